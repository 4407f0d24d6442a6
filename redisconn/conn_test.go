package redisconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/internal/redistest"
)

func start(t *testing.T, opts redistest.Options) *redistest.Server {
	t.Helper()
	s, err := redistest.Start(opts)
	if redistest.Skip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// An episode is logged once at its start and once at its end, whatever
// the number of commands that fail between; Redis coming back ends it
// without a new client.
func TestEpisode(t *testing.T) {
	s := start(t, redistest.Options{User: "idphooks", UserPassword: "pw"})
	core, logs := observer.New(zap.InfoLevel)
	c, err := Open(Options{Address: s.Addr, Username: "idphooks", Password: "pw", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := c.Ping(ctx); err == nil {
			t.Fatal("ping answered with Redis down")
		}
	}
	if !c.Failing() {
		t.Fatal("no episode")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if n := logs.Len(); n != 2 {
		t.Fatalf("%d log lines, want 2 (start, end): %v", n, logs.All())
	}
	if strings.Contains(logs.All()[0].ContextMap()["error"].(string), "pw") {
		t.Fatal("password in the log")
	}
}

func TestTLSAndURL(t *testing.T) {
	s := start(t, redistest.Options{TLS: true, Password: "secret"})
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := Open(Options{Address: "rediss://:secret@" + s.Addr + "/2", TLS: &tls.Config{RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Without the CA, the certificate is refused.
	c2, _ := Open(Options{Address: "rediss://:secret@" + s.Addr})
	defer c2.Close()
	if err := c2.Ping(context.Background()); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
}

func TestBadAddress(t *testing.T) {
	for _, a := range []string{"", "localhost", "redis://u:hunter2@[::1"} {
		_, err := Open(Options{Address: a})
		if err == nil {
			t.Fatalf("%q accepted", a)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("password in %v", err)
		}
	}
}

// A caller that gives up says nothing of Redis: it neither ends an
// episode (no false "redis is back") nor starts one.
func TestCallerGivingUpIsNoEpisode(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c, err := Open(Options{Address: "127.0.0.1:1", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Note("get", context.DeadlineExceeded)
	if c.Failing() {
		t.Fatal("a caller's deadline started an episode")
	}
	c.Failed("get", errors.New("connection refused"))
	c.Note("get", context.Canceled)
	c.Note("get", fmt.Errorf("wrapped: %w", context.DeadlineExceeded))
	if !c.Failing() || logs.Len() != 1 {
		t.Fatalf("failing %v, %d lines: a caller giving up ended the episode", c.Failing(), logs.Len())
	}
}

// go-redis fails a few commands for up to a second after Redis is back
// (its pool answers the last dial error until its probe gets through):
// such failures continue the episode that ended, without a second pair of
// lines; failures that go on past the settling time are a new episode,
// logged.
func TestFailuresRightAfterRecoveryAreTheSameEpisode(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	c, err := Open(Options{Address: "127.0.0.1:1", Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	down := errors.New("dial tcp: connection refused")
	c.Note("get", down)
	c.Note("get", nil) // back: two lines so far
	now = now.Add(100 * time.Millisecond)
	c.Note("get", down) // the pool's stale dial error
	now = now.Add(100 * time.Millisecond)
	c.Note("get", nil)
	if logs.Len() != 2 {
		t.Fatalf("%d lines for one outage and its tail, want 2: %v", logs.Len(), logs.All())
	}
	now = now.Add(500 * time.Millisecond)
	c.Note("get", down) // down again, quietly at first
	now = now.Add(3 * time.Second)
	c.Note("get", down) // still down past the settling time: logged
	if logs.Len() != 3 || logs.All()[2].Message != logs.All()[0].Message {
		t.Fatalf("a new outage was not logged: %v", logs.All())
	}
	c.Note("get", nil)
	if logs.Len() != 4 || !strings.Contains(logs.All()[3].Message, "back") {
		t.Fatalf("its end was not logged: %v", logs.All())
	}
}
