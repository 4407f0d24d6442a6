package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchStores gives each benchmark a fresh Bolt bucket and Memory, and a
// function that commits what the store holds back (write-behind), which
// the benchmark calls with its timer stopped: Set on the token path costs
// what it costs, and the commits' cost is BenchmarkCommit's.
func benchStores(b *testing.B, f func(b *testing.B, s Store, commit func())) {
	none := func() {}
	b.Run("bolt", func(b *testing.B) {
		bolt := openTestBolt(b, filepath.Join(b.TempDir(), "state.db"), nil)
		f(b, bolt.Bucket("bench"), none)
	})
	b.Run("bolt-sync-every-1s", func(b *testing.B) {
		bolt, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bolt.Close() })
		f(b, bolt.Bucket("bench"), none)
	})
	b.Run("bolt-write-behind", func(b *testing.B) {
		bolt, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Second, WriteBehind: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bolt.Close() })
		f(b, bolt.Bucket("bench"), func() {
			if err := bolt.commit(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("memory", func(b *testing.B) {
		m := NewMemory()
		b.Cleanup(func() { m.Close() })
		f(b, m, none)
	})
}

var benchValue = make([]byte, 1024) // about one upstream token

func BenchmarkSet(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store, commit func()) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, fmt.Sprint("k", i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
			if i%5000 == 0 {
				b.StopTimer()
				commit()
				b.StartTimer()
			}
		}
	})
}

// BenchmarkCommit is the write-behind's background cost per entry: a
// batch of 20 swap-sized entries (ten token answers, 50 ms at 200 answers
// a second) into a table of 100,000.
func BenchmarkCommit(b *testing.B) {
	bolt, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Hour, WriteBehind: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer bolt.Close()
	s := bolt.Bucket("swaps")
	ctx := context.Background()
	i := 0
	set := func() {
		if err := s.Set(ctx, swapLookupKey(fmt.Sprint(i)), benchValue, time.Hour); err != nil {
			b.Fatal(err)
		}
		i++
	}
	for range 100_000 {
		set()
		if i%5000 == 0 {
			if err := bolt.commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	const batch = 20
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range batch {
			set()
		}
		b.StartTimer()
		if err := bolt.commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
}

func BenchmarkGet(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store, commit func()) {
		ctx := context.Background()
		const n = 1000
		for i := range n {
			if err := s.Set(ctx, fmt.Sprint("k", i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		// Reads from the file, not from what waits to be committed.
		commit()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, fmt.Sprint("k", i%n)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// Put and Get of one swap on Memory: the derivations, the sealing and
// the allocations, without a backend's cost. keyed derives both keys with
// the server secret (HMAC); keyed-legacy is a Get on an upgraded file
// that finds no keyed entry and reads the unkeyed one.
func BenchmarkSwaps(b *testing.B) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	token := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + string(benchValue[:600]) + ".sig"
	for _, c := range []struct {
		name string
		opts SwapOptions
	}{
		{"unkeyed", SwapOptions{}},
		{"keyed", SwapOptions{Secret: testSecret}},
	} {
		m := NewMemory()
		defer m.Close()
		w := newSwaps(b, m, c.opts)
		b.Run(c.name+"/put", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Put(ctx, token, benchValue, exp); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Get(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Three swaps of a token response (access, refresh, ID token).
		b.Run(c.name+"/putall-3", func(b *testing.B) {
			access, refresh, id := token+"a", token+"r", token+"i"
			b.ReportAllocs()
			for b.Loop() {
				err := w.PutAll(ctx,
					SwapPut{Token: access, Value: benchValue, Exp: exp},
					SwapPut{Token: refresh, Value: benchValue, Exp: exp},
					SwapPut{Token: id, Value: benchValue, Exp: exp})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	m := NewMemory()
	defer m.Close()
	if err := newSwaps(b, m, SwapOptions{}).Put(ctx, token, benchValue, exp); err != nil {
		b.Fatal(err)
	}
	w := newSwaps(b, m, SwapOptions{Secret: testSecret, ReadUnkeyed: true})
	b.Run("keyed-legacy/get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.Get(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The two derivations of one swap (lookup and sealing key): unkeyed
// (SHA-256), keyed (hmacKey), and crypto/hmac reused as a pooled one
// would be (Reset, Write, Sum), which hmacKey replaces.
func BenchmarkSwapDerive(b *testing.B) {
	token := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + string(benchValue[:600]) + ".sig"
	keyed := newSwaps(b, NewMemory(), SwapOptions{Secret: testSecret}).write
	for name, s := range map[string]*swapScheme{"unkeyed": &unkeyedScheme, "keyed": keyed} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.derive(s.lookupLabel, token)
				_ = s.derive(s.sealLabel, token)
			}
		})
	}
	b.Run("crypto-hmac", func(b *testing.B) {
		h := hmac.New(sha256.New, testSecret)
		var sum [sha256.Size]byte
		b.ReportAllocs()
		for b.Loop() {
			for _, label := range []string{swapKeyedLookupLabel, swapKeyedSealLabel} {
				h.Reset()
				h.Write([]byte(label))
				h.Write([]byte(token))
				h.Sum(sum[:0])
			}
		}
	})
}
