package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// benchStores gives each benchmark a fresh Bolt bucket and Memory.
func benchStores(b *testing.B, f func(b *testing.B, s Store)) {
	b.Run("bolt", func(b *testing.B) {
		bolt := openTestBolt(b, filepath.Join(b.TempDir(), "state.db"), nil)
		f(b, bolt.Bucket("bench"))
	})
	b.Run("bolt-sync-every-1s", func(b *testing.B) {
		bolt, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bolt.Close() })
		f(b, bolt.Bucket("bench"))
	})
	b.Run("bolt-write-behind", func(b *testing.B) {
		bolt, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Second, WriteBehind: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { bolt.Close() })
		f(b, bolt.Bucket("bench"))
	})
	b.Run("memory", func(b *testing.B) {
		m := NewMemory()
		b.Cleanup(func() { m.Close() })
		f(b, m)
	})
}

var benchValue = make([]byte, 1024) // about one upstream token

func BenchmarkSet(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, fmt.Sprint("k", i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkGet(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		ctx := context.Background()
		const n = 1000
		for i := range n {
			if err := s.Set(ctx, fmt.Sprint("k", i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
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
