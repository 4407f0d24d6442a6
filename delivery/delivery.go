// Package delivery owns what idphooks tells the world after the fact: a
// durable queue of messages (an event for one receiver), the workers that
// send them with retries and dead letters, and replay. Receivers are
// Senders (webhooks, async JS hooks, Shared Signals); the queue is an
// interface with an embedded implementation (boltqueue) and, for
// clusters, a Redis one.
//
// Delivery is at least once: a message whose attempt succeeded may be
// sent again (a crash between the receiver's answer and the commit that
// removes it, a lease that ran out), with the same ID, so receivers dedupe
// on it. Order is best effort by due time: with nothing failing, a
// receiver gets its messages in the order they were enqueued (concurrent
// attempts to it may overtake each other unless its Concurrency is 1);
// none is kept across retries: a message that waits for its next attempt
// is passed by the ones behind it.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Message is one event on its way to one receiver.
type Message struct {
	// ID is the message's id, the same across its attempts and replays:
	// receivers dedupe on it (Standard Webhooks' webhook-id). NewID makes
	// one; Enqueue refuses a message without.
	ID string
	// Receiver names the receiver (a webhook endpoint's name, an async
	// hook's path).
	Receiver string
	// Event is the event type (after_login, …); Time when it happened.
	Event string
	Time  time.Time
	// Payload is the body as the receiver gets it (JSON).
	Payload []byte

	// Attempt counts the attempts made so far (0 before the first).
	Attempt int
	// NextAt is when the next attempt is due; zero at Enqueue: at once.
	NextAt time.Time
	// LastError is the last attempt's failure, for operators (never a
	// secret: receivers' answers are cut and kept as text).
	LastError string
	// LastStatus is the last attempt's HTTP status, 0 when none came.
	LastStatus int

	// Lease is the queue's mark of the lease that returned the message
	// (zero for a queue without one). A queue shared by processes
	// ignores Retry and Dead of a message leased again since: its lease
	// ran out while its holder still worked on it, and another took it.
	Lease int64
}

// NewID returns a new message id: "msg_" and a UUIDv7, so ids sort by
// creation time.
func NewID() string { return "msg_" + uuid.Must(uuid.NewV7()).String() }

// Queue keeps messages until they are delivered or dead. Implementations
// are safe for concurrent use.
type Queue interface {
	// Enqueue stores msgs durably: when it returns nil they survive a
	// crash of the process and of the machine. Implementations batch
	// concurrent calls into one commit (group commit) rather than paying
	// one each. A message whose ID is already in the queue (pending or
	// dead) is left as it is, so a caller may enqueue again after an
	// error. A queue that cannot store (a full disk) returns an error
	// wrapping ErrUnavailable, and has stored none of msgs; a message
	// without ID or Receiver is refused with ErrInvalid.
	Enqueue(ctx context.Context, msgs ...Message) error
	// Lease returns up to max of receiver's messages due at now, each
	// hidden from other Lease calls for lease (a worker that dies leaves
	// them to be leased again once it runs out: at-least-once), and when
	// the receiver's next message not returned is due (zero when it has
	// none). Messages come in due order.
	Lease(ctx context.Context, receiver string, now time.Time, max int, lease time.Duration) (msgs []Message, next time.Time, err error)
	// Done removes a delivered message; one no longer pending is left
	// alone.
	Done(ctx context.Context, m Message) error
	// Retry puts a failed message back, due at m.NextAt, with m's
	// Attempt, LastError and LastStatus; one no longer pending, or
	// leased again since m was (m.Lease), is left alone.
	Retry(ctx context.Context, m Message) error
	// Dead moves a message to the dead letters, with m's Attempt,
	// LastError and LastStatus; one leased again since m was (m.Lease)
	// is left to its new holder.
	Dead(ctx context.Context, m Message) error
	// Counts returns, per receiver with messages, how many are pending
	// and dead.
	Counts(ctx context.Context) (map[string]Counts, error)
	// Close releases the queue.
	Close() error
}

// Counts is what a queue holds for one receiver.
type Counts struct {
	Pending, Dead int
	// OldestPending is when the oldest pending message was enqueued (or
	// replayed); zero when none is pending.
	OldestPending time.Time
}

// State is where a message is in the queue.
type State string

const (
	Pending State = "pending"
	Dead    State = "dead"
)

// Entry is a message as the queue holds it.
type Entry struct {
	Message
	State State
	// EnqueuedAt is when the message was enqueued, or last replayed.
	EnqueuedAt time.Time
	// DeadAt is when it became a dead letter; zero while pending.
	DeadAt time.Time
}

// ListQuery selects a page of one receiver's messages.
type ListQuery struct {
	Receiver string
	// State is Pending (listed by enqueue time) or Dead (by death time).
	State State
	// Cursor is the Next of the previous page; empty for the first.
	Cursor string
	// Limit bounds the page; default 100, at most 1,000.
	Limit int
}

// Page is one page of a List.
type Page struct {
	Entries []Entry
	// Next is the cursor of the next page; empty on the last.
	Next string
}

// ReplayQuery selects dead letters to replay: the one with ID; else those
// of Receiver (all receivers when empty) that died at or after Since
// (any time when zero).
type ReplayQuery struct {
	ID       string
	Receiver string
	Since    time.Time
}

// Receivers is the receivers a replay of q visits: its one receiver, or
// every receiver with dead letters, from counts (a queue's Counts).
func (q ReplayQuery) Receivers(ctx context.Context, counts func(context.Context) (map[string]Counts, error)) ([]string, error) {
	if q.Receiver != "" {
		return []string{q.Receiver}, nil
	}
	all, err := counts(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for r, c := range all {
		if c.Dead > 0 {
			out = append(out, r)
		}
	}
	return out, nil
}

// Inspector is what an admin API needs of a queue besides Counts.
type Inspector interface {
	// Get returns the message with id, pending or dead, or ErrNotFound.
	Get(ctx context.Context, id string) (Entry, error)
	// List returns a page of a receiver's pending or dead messages.
	List(ctx context.Context, q ListQuery) (Page, error)
	// Replay moves the dead letters q selects back to pending, with the
	// same ID, due at now, their attempts counted from 0 again, and
	// returns how many it moved. A replay of many commits in steps: one
	// cut short (an error, a crash) has moved some.
	Replay(ctx context.Context, q ReplayQuery, now time.Time) (int, error)
}

var (
	// ErrUnavailable is wrapped by the errors of a queue that cannot
	// store messages now (a full disk, an I/O error): the request that
	// raised the event may answer 503.
	ErrUnavailable = errors.New("delivery: the queue cannot store messages now")
	// ErrInvalid is wrapped by the errors for a message a queue refuses.
	ErrInvalid = errors.New("delivery: invalid message")
	// ErrNotFound is Get's error for an id the queue does not hold.
	ErrNotFound = errors.New("delivery: no such message")
	// ErrClosed is returned by a closed queue.
	ErrClosed = errors.New("delivery: the queue is closed")
)

// Result is what one attempt to send a message came to.
type Result struct {
	// Status is the receiver's HTTP status, 0 when none came.
	Status int
	// RetryAfter is the receiver's Retry-After, 0 when it gave none.
	RetryAfter time.Duration
	// Err is why the attempt failed; nil for a delivery.
	Err error
}

// ErrGone is a Result.Err for a receiver that said it is gone for good
// (HTTP 410): its endpoint is disabled.
var ErrGone = errors.New("the receiver is gone (410)")

// ErrRejected is a Result.Err for a message refused for good (RFC
// 8935's 400 with an error code, or one its Sender cannot render):
// another attempt would get the same answer, so the message is a dead
// letter at once. It still counts as a failure of the receiver, which
// pauses if every message is refused (an audience or a key it does not
// accept).
var ErrRejected = errors.New("rejected for good")

// Sender makes one attempt to deliver a message to its receiver.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}

// Bounds on what a message's names may be: queues make keys of them.
const (
	maxIDLen       = 256
	maxReceiverLen = 1024
)

// Validate is what every Queue checks of a message at Enqueue: an ID and
// a receiver name, within bounds, the name without NUL. Its errors wrap
// ErrInvalid.
func (m *Message) Validate() error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: no ID", ErrInvalid)
	case len(m.ID) > maxIDLen:
		return fmt.Errorf("%w: ID longer than %d bytes", ErrInvalid, maxIDLen)
	case m.Receiver == "":
		return fmt.Errorf("%w: %s has no receiver", ErrInvalid, m.ID)
	case len(m.Receiver) > maxReceiverLen:
		return fmt.Errorf("%w: %s: receiver name longer than %d bytes", ErrInvalid, m.ID, maxReceiverLen)
	case strings.IndexByte(m.Receiver, 0) >= 0:
		return fmt.Errorf("%w: %s: receiver name holds a NUL", ErrInvalid, m.ID)
	}
	return nil
}
