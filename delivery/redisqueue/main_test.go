package redisqueue

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/queuetest"
	"github.com/idphooks/idphooks/internal/fakeclock"
	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/redisconn"
)

// server is the package's redis-server (appendfsync always), nil when
// none is installed outside CI.
var server *redistest.Server

func TestMain(m *testing.M) {
	s, err := redistest.ForPackage("redisqueue", redistest.Options{AppendFsync: "always"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisqueue:", err)
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

// newConn opens a Conn on the server under prefix, closed with the test.
func newConn(t testing.TB, prefix string) *redisconn.Conn {
	t.Helper()
	if server == nil {
		t.Skip("no redis-server")
	}
	c, err := redisconn.Open(redisconn.Options{Address: server.Addr, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newQueue makes a queue on a Conn of its own, closed with the test.
func newQueue(t testing.TB, prefix string, opts Options) *Queue {
	t.Helper()
	q, err := New(newConn(t, prefix), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// testSecret keys the contract's queues' MACs, as the swap secret does
// in Caddy.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

func clockOpts(clock *fakeclock.Clock) Options {
	if clock == nil {
		return Options{Secret: testSecret}
	}
	return Options{Now: clock.Now, Secret: testSecret}
}

// The Queue and Inspector contract; a reopen is a new Conn and Queue on
// the same prefix, as another process or a restart has.
func TestContract(t *testing.T) {
	if server == nil {
		t.Skip("no redis-server")
	}
	queuetest.Run(t, queuetest.Backend{
		New: func(t testing.TB, clock *fakeclock.Clock) delivery.Queue {
			return newQueue(t, newPrefix(), clockOpts(clock))
		},
		Reopen: func(t testing.TB, clock *fakeclock.Clock, q delivery.Queue) delivery.Queue {
			prefix := q.(*Queue).conn.Prefix
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			return newQueue(t, prefix, clockOpts(clock))
		},
	})
}
