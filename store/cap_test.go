package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	"go.uber.org/zap/zapcore"
)

// A table holds at most MaxEntries; writes past it evict the oldest
// entries, counted, with one log line when eviction starts.
func TestCapEvictsOldestFirst(t *testing.T) {
	for _, wb := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("write-behind ", wb), func(t *testing.T) {
			ctx := context.Background()
			log, logs := observed()
			m, err := NewMetrics(prometheus.NewPedanticRegistry())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "state.db")
			b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, SyncEvery: time.Hour, WriteBehind: wb, MaxEntries: 100, Logger: log, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			s := b.Bucket("swaps")
			for i := range 150 {
				if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Hour); err != nil {
					t.Fatal(err)
				}
				// Set anew, k0 is young again.
				if i == 120 {
					if err := s.Set(ctx, "k0", []byte("again"), time.Hour); err != nil {
						t.Fatal(err)
					}
				}
				if wb > 0 && i%10 == 0 {
					waitCommitted(t, b)
				}
			}
			if wb > 0 {
				waitCommitted(t, b)
			}
			if n := b.Len("swaps"); n != 100 {
				t.Fatalf("Len = %d, want the cap of 100", n)
			}
			for i := 1; i < 150; i++ {
				_, err := s.Get(ctx, fmt.Sprint("k", i))
				if gone := errors.Is(err, ErrNotFound); gone != (i <= 50) {
					t.Errorf("k%d: %v; want the oldest (k1…k50) evicted, the rest kept", i, err)
				}
			}
			if v, err := s.Get(ctx, "k0"); err != nil || string(v) != "again" {
				t.Errorf("k0, set anew: %q %v", v, err)
			}
			if got := metricValue(t, m.evictions); got != 51 {
				t.Errorf("evictions_total = %v, want 51", got)
			}
			if got := metricValue(t, m.entries); got != 100 {
				t.Errorf("entries = %v, want 100", got)
			}
			if n := logs.FilterMessageSnippet("reached its cap").FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
				t.Errorf("%d log lines about the cap, want 1", n)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if got := metricValue(t, m.entries); got != 0 {
				t.Errorf("entries = %v after Close, want 0", got)
			}

			// The count is in the file.
			b, err = OpenBolt(path, BoltOptions{SweepInterval: -1, MaxEntries: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if n := b.Len("swaps"); n != 100 {
				t.Fatalf("Len after reopen = %d", n)
			}
		})
	}
}

// Expired entries go before live ones, and a deletion makes room.
func TestCapEvictsExpiredFirst(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, SyncEvery: time.Hour, MaxEntries: 10, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := b.Bucket("swaps")
	for i := range 10 {
		ttl := time.Hour
		if i >= 5 {
			ttl = time.Minute
		}
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Minute)
	if err := s.Delete(ctx, "k0"); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 17; i++ {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// k0 deleted, k5…k9 expired: room for six of the seven new ones, so
	// only the oldest live entry, k1, is evicted.
	for i := 1; i < 17; i++ {
		_, err := s.Get(ctx, fmt.Sprint("k", i))
		if gone := errors.Is(err, ErrNotFound); gone != (i == 1 || (i >= 5 && i < 10)) {
			t.Errorf("k%d: %v", i, err)
		}
	}
	if n := b.Len("swaps"); n != 10 {
		t.Errorf("Len = %d", n)
	}
}

// A lower cap (a config reload) is reached by the sweep, without writes.
func TestLowerCapIsReachedBySweep(t *testing.T) {
	ctx := context.Background()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, WriteBehind: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 12_000 {
		if err := b.Bucket("cache").Set(ctx, fmt.Sprint("k", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.commit(); err != nil {
		t.Fatal(err)
	}
	b.SetMaxEntries(1000)
	if _, err := b.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n := b.Len("cache"); n != 1000 {
		t.Fatalf("Len = %d after lowering the cap to 1000", n)
	}
	if _, err := b.Bucket("cache").Get(ctx, "k11999"); err != nil {
		t.Fatalf("newest entry: %v", err)
	}
}

// A file of the layout before the cap (one bucket per Store, key → entry)
// is upgraded in place at open: live entries stay readable, swaps
// included, expired ones go.
func TestLegacyFileIsMigrated(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	path := filepath.Join(t.TempDir(), "state.db")

	// What the previous version wrote: its swap entries are Swaps.Put's
	// sealed values under the unchanged lookup key.
	w := newSwaps(t, NewMemory(), SwapOptions{})
	w.now = clock.Now
	if err := w.Put(ctx, ourToken, []byte(upstreamToken), clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	sealed, err := w.store.Get(ctx, swapLookupKey(ourToken))
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(value []byte, exp time.Time) []byte {
		b := []byte{legacyFormat}
		var ns int64 // zero: never expires
		if !exp.IsZero() {
			ns = exp.UnixNano()
		}
		b = binary.BigEndian.AppendUint64(b, uint64(ns))
		return append(b, value...)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		swaps, err := tx.CreateBucket([]byte("swaps"))
		if err != nil {
			return err
		}
		if err := swaps.Put([]byte(swapLookupKey(ourToken)), legacy(sealed, clock.Now().Add(time.Hour))); err != nil {
			return err
		}
		for i := range 12_000 { // more than one batch
			exp := clock.Now().Add(time.Hour)
			if i%2 == 1 {
				exp = clock.Now().Add(-time.Second)
			}
			if err := swaps.Put(fmt.Appendf(nil, "k%d", i), legacy([]byte("v"), exp)); err != nil {
				return err
			}
		}
		if err := swaps.Put([]byte("garbage"), []byte{9, 9}); err != nil {
			return err
		}
		cache, err := tx.CreateBucket([]byte("cache"))
		if err != nil {
			return err
		}
		return cache.Put([]byte("hook/x/k"), legacy([]byte("cached"), time.Time{}))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Now: clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sw := newSwaps(t, b.Bucket("swaps"), SwapOptions{})
	sw.now = clock.Now
	if got, err := sw.Get(ctx, ourToken); err != nil || string(got) != upstreamToken {
		t.Fatalf("swap written before the upgrade: %q, %v", got, err)
	}
	for _, i := range []int{0, 2, 11998} {
		if _, err := b.Bucket("swaps").Get(ctx, fmt.Sprint("k", i)); err != nil {
			t.Errorf("k%d: %v", i, err)
		}
	}
	if _, err := b.Bucket("swaps").Get(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired k1: %v", err)
	}
	if n := b.Len("swaps"); n != 6_001 {
		t.Errorf("Len = %d, want the 6,001 live entries", n)
	}
	err = b.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("swaps")) != nil || tx.Bucket([]byte("cache")) != nil {
			t.Error("old buckets left after the upgrade")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := logs.FilterMessageSnippet("upgraded").Len(); n != 2 {
		t.Errorf("%d upgrade log lines, want one per bucket", n)
	}
	// New writes go on from there, and the sweep works on the moved
	// entries.
	if err := b.Bucket("swaps").Set(ctx, "new", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	if n, err := b.Sweep(); err != nil || n != 6_002 {
		t.Errorf("sweep after the upgrade removed %d (%v), want 6,002", n, err)
	}
	// An entry that never expires was moved as one.
	if v, err := b.Bucket("cache").Get(ctx, "hook/x/k"); err != nil || string(v) != "cached" {
		t.Errorf("cache entry without expiry: %q %v", v, err)
	}
}
