package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"

	"go.etcd.io/bbolt"
)

func openTestBolt(t testing.TB, path string, now func() time.Time) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, BoltOptions{Now: now, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// implementations runs f against every Store, each on the given clock.
func implementations(t *testing.T, f func(t *testing.T, s Store, clock *fakeclock.Clock)) {
	t.Run("bolt", func(t *testing.T) {
		clock := fakeclock.New()
		b := openTestBolt(t, filepath.Join(t.TempDir(), "state.db"), clock.Now)
		f(t, b.Bucket("test"), clock)
	})
	t.Run("memory", func(t *testing.T) {
		clock := fakeclock.New()
		m := newMemory(clock.Now, time.Hour)
		t.Cleanup(func() { m.Close() })
		f(t, m, clock)
	})
}

func TestStoreContract(t *testing.T) {
	implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
		ctx := context.Background()
		if _, err := s.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get missing = %v, want ErrNotFound", err)
		}

		in := []byte("v1")
		if err := s.Set(ctx, "k", in, time.Minute); err != nil {
			t.Fatal(err)
		}
		in[0] = 'X'
		got, err := s.Get(ctx, "k")
		if err != nil || string(got) != "v1" {
			t.Fatalf("Get = %q, %v; want v1 (and unaffected by the caller's slice)", got, err)
		}
		got[0] = 'Y'
		if again, _ := s.Get(ctx, "k"); string(again) != "v1" {
			t.Fatalf("changing a returned value changed the store: %q", again)
		}

		if err := s.Set(ctx, "forever", []byte("f"), 0); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Minute - time.Nanosecond)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatalf("entry gone before its ttl: %v", err)
		}
		clock.Add(time.Nanosecond)
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired entry: %v, want ErrNotFound", err)
		}
		clock.Add(100 * 365 * 24 * time.Hour)
		if _, err := s.Get(ctx, "forever"); err != nil {
			t.Fatalf("entry without ttl expired: %v", err)
		}

		// Setting again replaces value and expiry.
		if err := s.Set(ctx, "k", []byte("v2"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, "k"); string(got) != "v2" {
			t.Fatalf("Get after reset = %q", got)
		}

		if err := s.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted entry: %v", err)
		}
		if err := s.Delete(ctx, "never-set"); err != nil {
			t.Fatalf("deleting a missing key: %v", err)
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Set(cancelled, "c", nil, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Set with a cancelled context = %v", err)
		}
	})
}

func TestStoreSweep(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	b := openTestBolt(t, filepath.Join(t.TempDir(), "state.db"), clock.Now)
	m := newMemory(clock.Now, time.Hour)
	defer m.Close()

	// Bolt entries go in one transaction: one fsync'd Set each is slow.
	exp := expiryFor(clock.Now(), time.Minute)
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{"a", "b"} {
			tb, err := openTable(tx, newTableNames(name), true)
			if err != nil {
				return err
			}
			for i := range 2500 { // more than one sweep batch
				k := fmt.Sprint("k", i)
				if err := tb.put([]byte(k), encodeRecord(k, []byte("x"), exp)); err != nil {
					return err
				}
			}
			if err := tb.save(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2500 {
		if err := m.Set(ctx, fmt.Sprint("k", i), []byte("x"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []Store{b.Bucket("a"), b.Bucket("b"), m} {
		if err := s.Set(ctx, "keep", []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Sweep(); n != 0 || err != nil {
		t.Fatalf("sweep before expiry removed %d (%v)", n, err)
	}
	clock.Add(time.Minute)
	if n, err := b.Sweep(); n != 5000 || err != nil {
		t.Fatalf("bolt sweep removed %d (%v), want 5000", n, err)
	}
	if n := m.Sweep(); n != 2500 {
		t.Fatalf("memory sweep removed %d, want 2500", n)
	}
	for _, s := range []Store{b.Bucket("a"), b.Bucket("b"), m} {
		if _, err := s.Get(ctx, "keep"); err != nil {
			t.Fatalf("sweep removed a live entry: %v", err)
		}
	}
}

func TestBackgroundSweepRunsAndStops(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{Now: clock.Now, SweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := b.Bucket("a")
	if err := s.Set(ctx, "k", []byte("x"), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for rawCount(t, b, "a") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("background sweep never removed the expired entry")
		}
		time.Sleep(time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-b.done:
	default:
		t.Fatal("sweep goroutine still running after Close")
	}
}

func TestBoltPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, BoltOptions{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Bucket("swaps").Set(ctx, "k", []byte("swap"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Bucket("other").Set(ctx, "k", []byte("other"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Add(30 * time.Minute)
	b = openTestBolt(t, path, clock.Now)
	if got, err := b.Bucket("swaps").Get(ctx, "k"); err != nil || string(got) != "swap" {
		t.Fatalf("after reopen Get = %q, %v", got, err)
	}
	// The expiry was stored too: this one lapsed while the file was closed.
	if _, err := b.Bucket("other").Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expiry not kept across reopen: %v", err)
	}
}

func TestBoltSecondOpenerTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openTestBolt(t, path, nil)
	start := time.Now()
	_, err := OpenBolt(path, BoltOptions{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, bbolt.ErrTimeout) {
		t.Fatalf("second open of a locked file = %v, want a timeout", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("already open elsewhere")) {
		t.Errorf("error does not say why: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Error("second open did not honour its timeout")
	}
}

func rawCount(t *testing.T, b *Bolt, bucket string) int {
	t.Helper()
	n := 0
	err := b.db.View(func(tx *bbolt.Tx) error {
		if bk := tx.Bucket([]byte(bucket + dataSuffix)); bk != nil {
			n = bk.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// With SyncEvery, writes are flushed in the background and on Close, and
// what was written is there after a reopen.
func TestBoltSyncEvery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, BoltOptions{SyncEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Bucket("x").Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if v, err := b2.Bucket("x").Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("after reopen: %q %v", v, err)
	}
}

// With WriteBehind, writes are readable at once, committed in the
// background, and on Close; deletions too.
func TestBoltWriteBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path, BoltOptions{WriteBehind: 5 * time.Millisecond, SyncEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := b.Bucket("x")
	for i := range 100 {
		if err := s.Set(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint("v", i)), time.Hour); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, fmt.Sprint("k", i)); err != nil || string(v) != fmt.Sprint("v", i) {
			t.Fatalf("read-your-write %d: %q %v", i, v, err)
		}
	}
	time.Sleep(20 * time.Millisecond) // a background commit
	if err := s.Delete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	if err := s.Set(ctx, "late", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	s2 := b2.Bucket("x")
	for _, k := range []string{"k0", "k99", "late"} {
		if _, err := s2.Get(ctx, k); err != nil {
			t.Errorf("%s after reopen: %v", k, err)
		}
	}
	if _, err := s2.Get(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("k1 after reopen: %v", err)
	}
}

// SetMany through a Batcher (Memory) and one Set at a time (Bolt).
func TestSetMany(t *testing.T) {
	implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
		ctx := context.Background()
		if err := SetMany(ctx, s, nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
		v := []byte("a1")
		err := SetMany(ctx, s, []Entry{
			{Key: "a", Value: v, TTL: time.Minute},
			{Key: "b", Value: []byte("b"), TTL: time.Hour},
			{Key: "forever", Value: []byte("f")},
			{Key: "a", Value: []byte("a2"), TTL: time.Minute},
		})
		if err != nil {
			t.Fatal(err)
		}
		v[0] = 'X'
		for k, want := range map[string]string{"a": "a2", "b": "b", "forever": "f"} {
			if got, err := s.Get(ctx, k); err != nil || string(got) != want {
				t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, want)
			}
		}
		clock.Add(time.Minute)
		if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("entry outlived its ttl: %v", err)
		}
		clock.Add(time.Hour)
		if _, err := s.Get(ctx, "b"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("entry outlived its ttl: %v", err)
		}
		if _, err := s.Get(ctx, "forever"); err != nil {
			t.Fatalf("entry without ttl: %v", err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if err := SetMany(canceled, s, []Entry{{Key: "c", Value: []byte("c")}}); !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled context: %v", err)
		}
	})
}
