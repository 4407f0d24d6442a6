package redisstore

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
)

// Two instances on one Redis whose secrets differ (they do not share
// Caddy storage): the first keeps working, the second refuses every
// call with ErrUnavailable and ErrSecretDiffers, logged once; instances
// with the first one's secret work. A Redis down at the first call is
// an unavailable call, and the check is made again at the next.
func TestAgreedSecret(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	first := bytes.Repeat([]byte{1}, 32)
	open := func(secret []byte, log *zap.Logger) store.Store {
		s := New(newConn(t, prefix, nil))
		return s.Agreed(s.Bucket("swaps"), secret, log)
	}
	a := open(first, nil)
	if err := a.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("the first instance: %v", err)
	}
	core, logs := observer.New(zap.InfoLevel)
	b := open(bytes.Repeat([]byte{2}, 32), zap.New(core))
	for range 3 {
		if err := b.Set(ctx, "k2", []byte("v"), time.Minute); !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, ErrSecretDiffers) {
			t.Fatalf("an instance with another secret: %v", err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, ErrSecretDiffers) {
			t.Fatalf("Get on an instance with another secret: %v", err)
		}
	}
	if logs.Len() != 1 {
		t.Errorf("%d log lines, want one: %v", logs.Len(), logs.All())
	}
	c := open(first, nil)
	if got, err := c.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("an instance with the cluster's secret: %q %v", got, err)
	}
	if err := store.SetMany(ctx, c, []store.Entry{{Key: "x", Value: []byte("1"), TTL: time.Minute}, {Key: "y", Value: []byte("2"), TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}

	// Redis down at the first call: unavailable, not judged.
	d := open(first, nil)
	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, ErrSecretDiffers) {
		t.Fatalf("Redis down at the check: %v", err)
	}
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := d.Get(ctx, "k")
		if err == nil && string(got) == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis is back: %q %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Calls that come together while Redis does not answer share the one
// check: each is held at most about the Conn's bound, not one bound per
// caller in turn (20 callers on a lock took 20 bounds).
func TestAgreedCheckSharedWhileRedisHangs(t *testing.T) {
	if server == nil {
		t.Skip("no redis-server")
	}
	ctx := context.Background()
	conn, err := redisconn.Open(redisconn.Options{Address: server.Addr, Prefix: newPrefix(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := New(conn)
	a := s.Agreed(s.Bucket("swaps"), bytes.Repeat([]byte{1}, 32), nil)
	if err := server.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			server.Resume()
		}
	}()
	const callers = 20
	var wg sync.WaitGroup
	took := make(chan time.Duration, callers)
	for range callers {
		wg.Go(func() {
			start := time.Now()
			if _, err := a.Get(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("Get against a hung Redis: %v", err)
			}
			took <- time.Since(start)
		})
	}
	wg.Wait()
	close(took)
	var longest time.Duration
	for d := range took {
		longest = max(longest, d)
	}
	// The bound is 500 ms; one check per caller in turn took 10 s.
	if longest > 2*time.Second {
		t.Errorf("the longest of %d concurrent first calls took %s", callers, longest)
	}
	server.Resume()
	resumed = true
}
