package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
)

// A Redis that takes connections and answers nothing (SIGSTOP: the
// kernel still accepts and buffers) holds a call at most twice the
// timeout and 100 ms, one retry included, however many commands the call
// sends; it is ErrUnavailable and one episode. Before the bound, a
// token answer's transaction took 4 s at a 1 s timeout. Once Redis runs
// again, the same Bucket works.
func TestHungRedisIsBounded(t *testing.T) {
	if server == nil {
		t.Skip("no redis-server")
	}
	ctx := context.Background()
	core, logs := observer.New(zap.InfoLevel)
	const timeout = 500 * time.Millisecond
	conn, err := redisconn.Open(redisconn.Options{Address: server.Addr, Prefix: newPrefix(), Timeout: timeout, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	b := New(conn).Bucket("swaps")
	if err := b.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := server.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			server.Resume()
		}
	}()
	// Half a timeout above the bound (1.1 s); without it the transaction
	// took four timeouts.
	const hung = 1600 * time.Millisecond
	calls := map[string]func() error{
		"get": func() error { _, err := b.Get(ctx, "k"); return err },
		"set": func() error { return b.Set(ctx, "k", []byte("v"), time.Hour) },
		"setmany": func() error {
			return b.SetMany(ctx, []store.Entry{{Key: "a", Value: []byte("1"), TTL: time.Hour}, {Key: "b", Value: []byte("2"), TTL: time.Hour}, {Key: "c", Value: []byte("3"), TTL: time.Hour}})
		},
		"delete": func() error { return b.Delete(ctx, "k") },
	}
	for name, call := range calls {
		start := time.Now()
		err := call()
		took := time.Since(start)
		t.Logf("%s: %s", name, took)
		if took > hung {
			t.Errorf("%s against a hung Redis took %s", name, took)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s against a hung Redis: %v, want ErrUnavailable", name, err)
		}
	}
	if !conn.Failing() {
		t.Error("a hung Redis started no episode")
	}
	if err := server.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := b.Get(ctx, "k")
		if err == nil && string(got) == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after Redis resumed: %q, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	down := 0
	for _, e := range logs.All() {
		if strings.HasPrefix(e.Message, "redis unavailable") {
			down++
		}
	}
	if down != 1 {
		t.Errorf("%d unavailable lines for one episode: %v", down, logs.All())
	}
}
