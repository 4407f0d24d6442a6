package store

import (
	"context"
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

func BenchmarkSwaps(b *testing.B) {
	ctx := context.Background()
	m := NewMemory()
	defer m.Close()
	w := NewSwaps(m)
	exp := time.Now().Add(time.Hour)
	token := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + string(benchValue[:600]) + ".sig"
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := w.Put(ctx, token, benchValue, exp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := w.Get(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
