// Package boltqueue is delivery's embedded Queue: a bbolt file of its own
// (beside the state store's, not in it: a backlog must not compete with
// token swaps for the file's single writer), committed with fsync, so a
// message Enqueue accepted survives a crash of the process or the
// machine.
//
// Every write (Enqueue, Done, Retry, Dead, Replay) goes through one
// committer goroutine that runs what is waiting in one bbolt transaction:
// group commit, with no fixed window. A write waits for the commit under
// way, then goes with everything that arrived meanwhile, so under load a
// single fsync serves hundreds of callers and when idle a write commits at
// once. bbolt's own Batch is not used: it waits a fixed MaxBatchDelay
// before committing a batch that is not full, which is added latency on
// every request when traffic is light.
package boltqueue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/groupcommit"
)

// Options tunes Open.
type Options struct {
	// Timeout bounds the wait for the file's lock (bbolt locks it
	// exclusively). Default 2 seconds.
	Timeout time.Duration
	// FileMode is the mode of a new file. Default 0600: payloads hold
	// users' data.
	FileMode os.FileMode
	// MaxBatch bounds the writes one commit takes. Default 1,000.
	MaxBatch int
	// Now is the clock (enqueue and death times). Default time.Now.
	Now func() time.Time
}

// Queue is a delivery.Queue and delivery.Inspector on a bbolt file.
type Queue struct {
	db       *bbolt.DB
	now      func() time.Time
	maxBatch int

	batches *groupcommit.Batcher[write]
	stop    chan struct{}
	done    chan struct{}
	closing sync.Once

	// leaseMu guards leases: message ID → when its lease ends.
	leaseMu sync.Mutex
	leases  map[string]time.Time

	commits atomic.Int64 // transactions committed, for tests
}

// write runs in a batch's transaction.
type write func(tx *bbolt.Tx) error

// op is one write waiting for its batch; its error, or the commit's,
// answers it.
type op = groupcommit.Op[write]

// Open opens or creates the queue file at path. A file that is not a
// sound queue file is refused with an error wrapping ErrCorrupt.
func Open(path string, opts Options) (*Queue, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := openChecked(path, opts)
	if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	q := &Queue{
		db: db, now: opts.Now, maxBatch: opts.MaxBatch,
		batches: groupcommit.New[write](stop), stop: stop, done: make(chan struct{}),
		leases: map[string]time.Time{},
	}
	go func() {
		defer close(q.done)
		// One transaction at a time (bbolt's writer lock): batches of up
		// to maxBatch writes.
		q.batches.Loop(q.maxBatch, func(write) int { return 1 }, q.commit)
	}()
	return q, nil
}

// Path is the file's path.
func (q *Queue) Path() string { return q.db.Path() }

// Close waits for the writes under way and closes the file; later calls
// fail with delivery.ErrClosed.
func (q *Queue) Close() error {
	var err error
	q.closing.Do(func() {
		close(q.stop)
		<-q.done
		err = q.db.Close()
	})
	return err
}

// write runs fn in the next commit and waits for it. An error wrapping
// delivery.ErrUnavailable means nothing fn did was stored. When ctx ends
// first, ctx's error comes back and the write may still commit.
func (q *Queue) write(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	return q.batches.Submit(ctx, fn, delivery.ErrClosed)
}

// opError is an op's own failure, which aborts the batch's transaction.
type opError struct {
	i   int
	err error
}

func (e *opError) Error() string { return e.err.Error() }

// commit runs batch in one transaction. An op that fails is answered
// with its error and the others run again without it, so one bad write
// costs the others a retry, not their data.
func (q *Queue) commit(batch []*op) {
	for len(batch) > 0 {
		err := q.db.Update(func(tx *bbolt.Tx) error {
			for i, o := range batch {
				if err := o.Value(tx); err != nil {
					return &opError{i, err}
				}
			}
			return nil
		})
		var oe *opError
		if errors.As(err, &oe) {
			batch[oe.i].Done(oe.err)
			batch = append(batch[:oe.i:oe.i], batch[oe.i+1:]...)
			continue
		}
		if err != nil {
			// The commit failed (a full disk, an I/O error): bbolt
			// rolled the transaction back, none of it is stored.
			err = fmt.Errorf("%w: %w", delivery.ErrUnavailable, err)
		} else {
			q.commits.Add(1)
		}
		for _, o := range batch {
			o.Done(err)
		}
		return
	}
}

// read runs fn in a read transaction.
func (q *Queue) read(fn func(tx *bbolt.Tx) error) error {
	select {
	case <-q.stop:
		return delivery.ErrClosed
	default:
	}
	return q.db.View(fn)
}

var (
	_ delivery.Queue     = (*Queue)(nil)
	_ delivery.Inspector = (*Queue)(nil)
)
