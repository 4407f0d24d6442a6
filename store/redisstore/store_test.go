package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/store"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t, "swaps")
	if _, err := b.Get(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing = %v, want ErrNotFound", err)
	}
	in := []byte("v1")
	if err := b.Set(ctx, "k", in, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The caller may reuse its slice once Set returns.
	in[0] = 'X'
	got, err := b.Get(ctx, "k")
	if err != nil || string(got) != "v1" {
		t.Fatalf("Get = %q, %v; want v1 (and unaffected by the caller's slice)", got, err)
	}
	got[0] = 'Y'
	if again, _ := b.Get(ctx, "k"); string(again) != "v1" {
		t.Fatalf("changing a returned value changed the store: %q", again)
	}
	if err := b.Set(ctx, "k", []byte("v2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "k"); err != nil || string(got) != "v2" {
		t.Fatalf("Get after a second Set = %q, %v", got, err)
	}
	if err := b.Set(ctx, "empty", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("empty value: %q, %v", got, err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	if err := b.Delete(ctx, "never-set"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing a Bucket leaves the Conn (and so the Bucket) usable.
	if err := b.Set(ctx, "after-close", []byte("x"), time.Hour); err != nil {
		t.Fatalf("Set after a Bucket's Close: %v", err)
	}
}

// The entry of key in bucket name is conn.Key("kv", name, key), with
// Redis' own expiry: PTTL shows the ttl rounded up to the millisecond, and
// none for a ttl of zero or less.
func TestKeysAndTTLs(t *testing.T) {
	ctx := context.Background()
	conn := newConn(t, newPrefix(), nil)
	b := New(conn).Bucket("swaps")
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := conn.Client.PTTL(ctx, conn.Key("kv", "swaps", key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := b.Set(ctx, "k", []byte("v"), time.Hour+time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if raw, err := conn.Client.Get(ctx, conn.Key("kv", "swaps", "k")).Result(); err != nil || raw != "v" {
		t.Fatalf("raw entry = %q, %v", raw, err)
	}
	// An hour and one millisecond, less the time since the SET.
	if d := pttl("k"); d <= time.Hour-time.Minute || d > time.Hour+time.Millisecond {
		t.Fatalf("PTTL = %v, want an hour and a millisecond or a little less", d)
	}
	if err := b.Set(ctx, "forever", []byte("f"), 0); err != nil {
		t.Fatal(err)
	}
	// go-redis reads a ttl of -1ns as KEEPTTL; it must replace the expiry
	// like any other ttl of zero or less.
	if err := b.Set(ctx, "k", []byte("v"), -1); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"forever", "k"} {
		if d := pttl(k); d != -1 {
			t.Fatalf("PTTL of %s = %v, want -1 (no expiry)", k, d)
		}
	}
}

func TestExpiration(t *testing.T) {
	for _, c := range []struct{ ttl, want time.Duration }{
		{-time.Hour, 0}, {-1, 0}, {0, 0},
		{1, time.Millisecond}, {time.Millisecond, time.Millisecond},
		{time.Millisecond + 1, 2 * time.Millisecond}, {time.Hour, time.Hour},
	} {
		if got := expiration(c.ttl); got != c.want {
			t.Errorf("expiration(%v) = %v, want %v", c.ttl, got, c.want)
		}
	}
}

// A ttl under a millisecond stores a short entry, which Redis expires.
func TestShortTTLExpires(t *testing.T) {
	ctx := context.Background()
	b := newBucket(t, "swaps")
	if err := b.Set(ctx, "brief", []byte("v"), time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Get(ctx, "brief")
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("an entry of 1 ns still there after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBucketsAndPrefixesAreIsolated(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	s := New(newConn(t, prefix, nil))
	swaps, cache := s.Bucket("swaps"), s.Bucket("cache")
	other := New(newConn(t, newPrefix(), nil)).Bucket("swaps")
	same := New(newConn(t, prefix, nil)).Bucket("swaps")
	if err := swaps.Set(ctx, "k", []byte("swap"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := cache.Set(ctx, "k", []byte("cache"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := swaps.Get(ctx, "k"); string(got) != "swap" {
		t.Fatalf("swaps has %q", got)
	}
	if got, _ := cache.Get(ctx, "k"); string(got) != "cache" {
		t.Fatalf("cache has %q", got)
	}
	if _, err := other.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a Conn with another prefix sees the entry: %v", err)
	}
	// Another instance of the cluster (a Conn on the same prefix) does.
	if got, err := same.Get(ctx, "k"); err != nil || string(got) != "swap" {
		t.Fatalf("another Conn on the same prefix: %q, %v", got, err)
	}
	if err := cache.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := swaps.Get(ctx, "k"); string(got) != "swap" {
		t.Fatalf("deleting from cache changed swaps: %q", got)
	}
}

func TestBadBucketName(t *testing.T) {
	s := New(newConn(t, newPrefix(), nil))
	ctx := context.Background()
	for _, name := range []string{"", "a:b"} {
		b := s.Bucket(name)
		if err := b.Set(ctx, "k", []byte("v"), 0); err == nil {
			t.Errorf("Set in bucket %q worked", name)
		}
		if _, err := b.Get(ctx, "k"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get in bucket %q: %v", name, err)
		}
		if err := b.Delete(ctx, "k"); err == nil {
			t.Errorf("Delete in bucket %q worked", name)
		}
	}
}

// Another application's key of another type where an entry should be is
// an error about the data: not ErrUnavailable, and no episode.
func TestWrongType(t *testing.T) {
	ctx := context.Background()
	core, logs := observer.New(zap.InfoLevel)
	conn := newConn(t, newPrefix(), zap.New(core))
	b := New(conn).Bucket("swaps")
	if err := conn.Client.HSet(ctx, conn.Key("kv", "swaps", "k"), "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := b.Get(ctx, "k")
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a hash: %v", err)
	}
	if conn.Failing() || logs.Len() != 0 {
		t.Fatalf("a WRONGTYPE answer started an episode: %v", logs.All())
	}
}

func TestCanceledContext(t *testing.T) {
	b := newBucket(t, "swaps")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Set(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Set with a canceled context: %v", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	if b.conn.Failing() {
		t.Fatal("a canceled context started an episode")
	}

	// A caller's deadline shorter than the Conn's timeout, running out
	// while Redis holds the command (CLIENT PAUSE): the caller's error,
	// and no episode.
	if err := b.c.Do(context.Background(), "client", "pause", "300", "all").Err(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Get(short, "k"); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get past the caller's deadline: %v", err)
	}
	if b.conn.Failing() {
		t.Fatal("the caller's deadline started an episode")
	}
	if err := b.c.Do(context.Background(), "client", "unpause").Err(); err != nil {
		t.Fatal(err)
	}
}

// Redis stopped: Get, Set and Delete fail with ErrUnavailable, the
// episode is logged once, and the same Bucket works again once Redis is
// back, which is logged once too. A caller that gives up meanwhile does
// not end the episode.
func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	core, logs := observer.New(zap.InfoLevel)
	conn := newConn(t, newPrefix(), zap.New(core))
	b := New(conn).Bucket("swaps")
	if err := b.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			server.Restart()
		}
	})
	for range 3 {
		if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Get with Redis down: %v, want ErrUnavailable", err)
		}
		if err := b.Set(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Set with Redis down: %v, want ErrUnavailable", err)
		}
		if err := b.Delete(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Delete with Redis down: %v, want ErrUnavailable", err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Get(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: %v", err)
	}
	if !conn.Failing() {
		t.Fatal("no episode, or a canceled call ended it")
	}
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	// The entry was on disk (AOF, appendfsync always) before the stop.
	if got, err := b.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get after the restart = %q, %v", got, err)
	}
	if err := b.Set(ctx, "k2", []byte("v2"), time.Hour); err != nil {
		t.Fatalf("Set after the restart: %v", err)
	}
	var down, back int
	for _, e := range logs.All() {
		switch {
		case strings.HasPrefix(e.Message, "redis unavailable"):
			down++
		case e.Message == "redis is back":
			back++
		}
	}
	if down != 1 || back != 1 || logs.Len() != 2 {
		t.Fatalf("%d unavailable and %d back lines, want one each: %v", down, back, logs.All())
	}
}

// Redis up but refusing writes, as a replica (READONLY) or out of memory
// (OOM) does: ErrUnavailable, an episode, and writes work again after.
func TestRedisRefusesWrites(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		set, reset []any
		reply      string
	}{
		// A primary that is not there: the server stays a replica that
		// never syncs, refusing writes.
		{"replica", []any{"replicaof", "127.0.0.1", "1"}, []any{"replicaof", "no", "one"}, "READONLY"},
		{"full", []any{"config", "set", "maxmemory", "1"}, []any{"config", "set", "maxmemory", "0"}, "OOM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			conn := newConn(t, newPrefix(), zap.New(core))
			b := New(conn).Bucket("swaps")
			if err := conn.Client.Do(ctx, c.set...).Err(); err != nil {
				t.Fatal(err)
			}
			reset := func() {
				if err := conn.Client.Do(ctx, c.reset...).Err(); err != nil {
					t.Fatal(err)
				}
			}
			defer reset()
			err := b.Set(ctx, "k", []byte("v"), time.Hour)
			if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), c.reply) {
				t.Fatalf("Set: %v, want ErrUnavailable with %s", err, c.reply)
			}
			if !conn.Failing() || logs.Len() != 1 {
				t.Fatalf("episode %v, log %v", conn.Failing(), logs.All())
			}
			// Requests that read (Redis answers) and then write (refused)
			// are one episode, not a line per request.
			for range 5 {
				if _, err := b.Get(ctx, "k"); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Get while writes are refused: %v", err)
				}
				if err := b.Set(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("Set: %v", err)
				}
			}
			if !conn.Failing() || logs.Len() != 1 {
				t.Fatalf("reads between refused writes: episode %v, log %v", conn.Failing(), logs.All())
			}
			reset()
			if err := b.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
				t.Fatalf("Set after: %v", err)
			}
			if conn.Failing() {
				t.Fatal("episode not over")
			}
		})
	}
}
