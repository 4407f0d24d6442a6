package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
)

// execCalls is how many EXEC the server has run.
func execCalls(t *testing.T, conn *redisconn.Conn) int {
	t.Helper()
	info, err := conn.Client.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_exec:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

func TestSetMany(t *testing.T) {
	ctx := context.Background()
	conn := newConn(t, newPrefix(), nil)
	b := New(conn).Bucket("swaps")
	before := execCalls(t, conn)
	if err := store.SetMany(ctx, b, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	if err := store.SetMany(ctx, b, []store.Entry{{Key: "one", Value: []byte("1"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	// Neither needed a transaction.
	if n := execCalls(t, conn); n != before {
		t.Fatalf("%d EXEC for an empty batch and a batch of one", n-before)
	}
	v := []byte("a1")
	err := store.SetMany(ctx, b, []store.Entry{
		{Key: "a", Value: v, TTL: time.Hour},
		{Key: "forever", Value: []byte("f"), TTL: -1},
		{Key: "brief", Value: []byte("b"), TTL: time.Nanosecond},
		{Key: "a", Value: []byte("a2"), TTL: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	if n := execCalls(t, conn); n != before+1 {
		t.Fatalf("%d EXEC for one batch", n-before)
	}
	for k, want := range map[string]string{"one": "1", "a": "a2", "forever": "f"} {
		if got, err := b.Get(ctx, k); err != nil || string(got) != want {
			t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	for k, lo := range map[string]time.Duration{"a": time.Hour - time.Minute, "forever": -1, "brief": -2} {
		d, err := conn.Client.PTTL(ctx, conn.Key("kv", "swaps", k)).Result()
		// brief has 1 ms, or has expired (PTTL -2).
		if err != nil || d < lo || d > time.Hour {
			t.Fatalf("PTTL(%s) = %v, %v", k, d, err)
		}
	}
}

// Redis refusing the batch (a replica) stores none of it; Redis down
// fails it with ErrUnavailable, logged once.
func TestSetManyFails(t *testing.T) {
	ctx := context.Background()
	core, logs := observer.New(zap.InfoLevel)
	conn := newConn(t, newPrefix(), zap.New(core))
	b := New(conn).Bucket("swaps")
	batch := []store.Entry{{Key: "a", Value: []byte("a")}, {Key: "b", Value: []byte("b")}}
	if err := conn.Client.Do(ctx, "replicaof", "127.0.0.1", "1").Err(); err != nil {
		t.Fatal(err)
	}
	err := b.SetMany(ctx, batch)
	if err := conn.Client.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	// The cause, not only EXECABORT.
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("SetMany on a replica: %v, want ErrUnavailable for READONLY", err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := b.Get(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get(%s) after a refused batch: %v", k, err)
		}
	}
	if err := b.SetMany(ctx, batch); err != nil {
		t.Fatal(err)
	}

	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	defer server.Restart()
	for range 3 {
		if err := b.SetMany(ctx, batch); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("SetMany with Redis down: %v, want ErrUnavailable", err)
		}
	}
	var down int
	for _, e := range logs.All() {
		if strings.HasPrefix(e.Message, "redis unavailable") {
			down++
		}
	}
	// One for the replica; the stop, less than two seconds after Redis
	// answered again, continues that episode (redisconn's settling time).
	if down != 1 {
		t.Fatalf("%d unavailable lines, want 1: %v", down, logs.All())
	}
}
