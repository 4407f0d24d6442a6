// Package redisqueue is delivery's Queue for clusters: every instance
// opens it on the same Redis (or Valkey), and they share the work.
//
// # Layout
//
// Each message is a hash (prefix{q}:m:<id>); each receiver has three
// sorted sets of message IDs: due (scored by when the message is due),
// pend (by enqueue time, for List and the oldest pending) and dead (by
// death time); prefix{q}:receivers names the receivers with messages.
// Every write is one Lua script, so it is atomic and reaches the AOF and
// the replicas as one unit.
//
// A lease is the visibility timeout of Sidekiq's, BullMQ's and Celery's
// Redis queues: Lease takes the receiver's members due by now and, in the
// same script, moves their due score to now+lease. Another instance's
// Lease no longer sees them; if the holder dies, they are due again once
// the lease runs out and any instance leases them (at least once), and
// while a lease is live no other Lease returns the message (no double
// delivery in the healthy case). Lease's next is the first due score not
// returned, so it includes when the leases held by other instances run
// out: a deliverer sleeping until then wakes to claim what a dead one
// held. Nothing of the backlog or of the leases is held in the process.
// A holder that outlives its lease without dying (a long pause) finds
// the message leased again: its Retry and Dead carry its lease's end
// (Message.Lease) and are ignored once the due score is another's, so
// the new holder's lease stands; its Done still removes the message (it
// was delivered).
//
// Redis Streams with consumer groups were not used: a stream entry has
// no due time, and retries are due in the future (seconds to hours), so
// a retry would need a sorted set beside the stream anyway, moved back
// into it by a poller; a stream's pending entries list also answers
// "pending for how long", not "due when", and dead letters, replay by
// receiver and time, and paging by enqueue time would be more structures
// still. A sorted set per receiver does due times, leases, order and
// paging with one structure and one script per operation.
//
// Times: due and lease scores are the callers' clocks (Lease's now), so
// the instances' clocks must agree (NTP) to well within a lease; a clock
// ahead by more than the lease takes leases early. Scores are
// microseconds; the message's own times (NextAt, enqueue, death) are kept
// to the nanosecond.
//
// # Group commit
//
// Concurrent Enqueue calls are batched, as boltqueue's are: committer
// goroutines (Options.Committers, default 2) each take what is waiting,
// up to Options.MaxBatch messages, and store it with one script call (one
// round trip, and under appendfsync always one fsync shared by all).
// Each call is still atomic on its own: one refused (a key of the wrong
// type at its message's place) stores none of its messages and the
// others of the batch go on.
//
// # Durability
//
// Enqueue returns nil once Redis has run the script. What that survives
// is Redis' configuration, not this package's: with appendonly yes and
// appendfsync always, Redis writes and fsyncs the AOF before it answers,
// so an accepted message survives a crash of Redis or of its machine;
// with appendfsync everysec (Redis' default with AOF) a crash loses up to
// the last second; without AOF (RDB snapshots only) up to the last
// snapshot. With replicas, Options.Replicas runs WAIT after each batch:
// Enqueue returns nil once that many replicas have the batch, else an
// error wrapping delivery.ErrUnavailable after Options.ReplicaTimeout
// (the batch may then be on the primary: the caller enqueues again, and
// the ID's dedupe keeps one). WAIT does not make a failover lossless (a
// replica promoted by Sentinel may lack the last writes) but bounds what
// one loses. The embedded boltqueue fsyncs every commit itself: its
// guarantee holds with no configuration, for one machine.
//
// Done, Retry and Dead are not waited on: one lost in a crash of Redis
// means a message delivered again (at least once) or retried once more.
//
// # Failures
//
// Every command's result goes through the Conn's episode log
// (redisconn.Conn.Note). An error of an unreachable Redis (down, a
// timeout, loading, read-only, out of memory) wraps
// delivery.ErrUnavailable; one of data that is not this package's (a key
// of the wrong type) does not, and says which key. A message hash
// missing fields or holding garbage is never delivered: Lease moves it to
// the dead letters with what could be read and why, Get answers an error
// naming the fields, List shows what could be read.
package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/groupcommit"
	"github.com/idphooks/idphooks/redisconn"
)

// Options tunes New. The zero value is usable.
type Options struct {
	// MaxBatch bounds the messages one Enqueue batch carries. Default
	// 500.
	MaxBatch int
	// Committers is how many batches may be on their way to Redis at
	// once. Default 2: one waits for Redis (and its fsync) while the
	// next fills.
	Committers int
	// Replicas, when positive, makes each Enqueue batch wait (WAIT) until
	// that many replicas acknowledge it, for at most ReplicaTimeout.
	Replicas int
	// ReplicaTimeout bounds that wait. Default 500 ms (below the Conn's
	// command timeout).
	ReplicaTimeout time.Duration
	// Now is the clock of enqueue and death times. Default time.Now.
	Now func() time.Time
	// Secret, when set, keys a MAC over each message (see macKey): a
	// message in Redis without a valid one is buried as damaged, never
	// delivered. Every instance on the queue must use the same (the
	// swap secret). Unset: no MAC is written or checked.
	Secret []byte
}

// Queue is a delivery.Queue and delivery.Inspector on Redis. Safe for
// concurrent use, and for several processes on one Redis.
type Queue struct {
	conn *redisconn.Conn
	c    redis.UniversalClient
	base string // the start of every key: prefix + "{q}:"
	keys []string
	opts Options

	mac *macKey // nil without Options.Secret

	// waitAlways runs WAIT even for Replicas 0 (tests of that path).
	waitAlways bool

	ops     *groupcommit.Batcher[[]delivery.Message]
	stop    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
	closed  atomic.Bool

	batches atomic.Int64 // Enqueue script calls, for tests
}

// New makes a queue on conn, under conn.Prefix. It does not contact
// Redis. Close does not close conn.
func New(conn *redisconn.Conn, opts Options) (*Queue, error) {
	if conn == nil || conn.Client == nil {
		return nil, errors.New("redisqueue: no Redis connection")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.Committers <= 0 {
		opts.Committers = 2
	}
	if opts.Replicas < 0 {
		return nil, fmt.Errorf("redisqueue: Replicas %d is negative", opts.Replicas)
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = 500 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	base := conn.Key("{q}", "")
	stop := make(chan struct{})
	q := &Queue{
		conn: conn, c: conn.Client, base: base, keys: []string{base + "receivers"}, opts: opts,
		ops: groupcommit.New[[]delivery.Message](stop), stop: stop, mac: newMACKey(opts.Secret),
	}
	for range opts.Committers {
		q.wg.Add(1)
		go q.commitLoop()
	}
	return q, nil
}

// Close stops the committers once the batches under way are answered;
// later calls fail with delivery.ErrClosed. The Conn stays open.
func (q *Queue) Close() error {
	q.closing.Do(func() {
		q.closed.Store(true)
		close(q.stop)
		q.wg.Wait()
	})
	return nil
}

func (q *Queue) check() error {
	if q.closed.Load() {
		return delivery.ErrClosed
	}
	return nil
}

// run runs a script and records its outcome in the Conn's episodes.
func (q *Queue) run(ctx context.Context, op string, s *redis.Script, args ...any) (any, error) {
	var v any
	err := q.conn.Bounded(ctx, func(ctx context.Context) (err error) {
		v, err = s.Run(ctx, q.c, q.keys, append([]any{q.base}, args...)...).Result()
		return err
	})
	return v, q.fail(op, err)
}

// fail turns a command's error into the queue's: nil stays nil, an
// answer of Redis about data is a plain error, anything else (Redis
// cannot serve) wraps delivery.ErrUnavailable.
func (q *Queue) fail(op string, err error) error {
	note := q.conn.Note
	if readOps[op] {
		note = q.conn.NoteRead
	}
	if err == nil || errors.Is(err, redis.Nil) {
		note("queue "+op, nil)
		return nil
	}
	if dataError(err) {
		note("queue "+op, nil) // Redis answered
		return fmt.Errorf("redisqueue: %s: %w: %s", op, errDamaged, strings.TrimPrefix(err.Error(), "IDPHOOKS "))
	}
	note("queue "+op, err)
	return fmt.Errorf("%w: redisqueue: %s: %w", delivery.ErrUnavailable, op, err)
}

// readOps are the operations that only read: their success does not end
// an episode of refused writes (Conn.NoteRead).
var readOps = map[string]bool{"get": true, "list": true, "counts": true}

// dataError reports whether err is Redis refusing the data it holds (a
// key of another type, our scripts' own refusals) rather than being
// unable to serve.
func dataError(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	return strings.HasPrefix(msg, "WRONGTYPE") || strings.HasPrefix(msg, "IDPHOOKS ")
}

var (
	_ delivery.Queue     = (*Queue)(nil)
	_ delivery.Inspector = (*Queue)(nil)
)
