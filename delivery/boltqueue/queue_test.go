package boltqueue

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/queuetest"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

func openTest(t testing.TB, clock *fakeclock.Clock) (*Queue, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path, options(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, path
}

func options(clock *fakeclock.Clock) Options {
	opts := Options{}
	if clock != nil {
		opts.Now = clock.Now
	}
	return opts
}

var msg = queuetest.Msg

// The Queue and Inspector contract, each step of a message's life also
// across a reopen of the file.
func TestContract(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{
		New: func(t testing.TB, clock *fakeclock.Clock) delivery.Queue {
			q, _ := openTest(t, clock)
			return q
		},
		Reopen: func(t testing.TB, clock *fakeclock.Clock, q delivery.Queue) delivery.Queue {
			path := q.(*Queue).Path()
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q2, err := Open(path, options(clock))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q2.Close() })
			return q2
		},
	})
}

// Concurrent Enqueue calls share commits.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t, nil)
	const producers, each = 50, 20
	before := q.commits.Load()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := q.Enqueue(ctx, msg("crm", p*each+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	commits := q.commits.Load() - before
	t.Logf("%d enqueues in %d commits", producers*each, commits)
	if commits >= producers*each {
		t.Fatalf("%d enqueues took %d commits: no group commit", producers*each, commits)
	}
	c, _ := q.Counts(ctx)
	if c["crm"].Pending != producers*each {
		t.Fatalf("pending %d", c["crm"].Pending)
	}
}
