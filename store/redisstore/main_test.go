package redisstore

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/redisconn"
)

// server is the package's redis-server, nil when none is installed
// outside CI. Tests that stop it do not run in parallel with others.
var server *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.ForPackage("redisstore", redistest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisstore:", err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	if server != nil {
		server.Close()
	}
	os.Exit(code)
}

var prefixes atomic.Int64

// newPrefix is a key prefix of the test's own.
func newPrefix() string { return fmt.Sprintf("t%d:", prefixes.Add(1)) }

// newConn opens a Conn on the server under prefix, logging to log (nil:
// nowhere), closed with the test.
func newConn(t testing.TB, prefix string, log *zap.Logger) *redisconn.Conn {
	t.Helper()
	if server == nil {
		t.Skip("no redis-server")
	}
	c, err := redisconn.Open(redisconn.Options{Address: server.Addr, Prefix: prefix, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newBucket is bucket name on a Conn of its own under a new prefix.
func newBucket(t testing.TB, name string) *Bucket {
	t.Helper()
	return New(newConn(t, newPrefix(), nil)).Bucket(name)
}
