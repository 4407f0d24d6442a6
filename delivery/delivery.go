// Package delivery owns what idphooks tells the world after the fact: a
// durable queue of messages (an event for one receiver), the workers that
// send them with retries and dead letters, and replay. Receivers are
// Senders (webhooks, async JS hooks, Shared Signals); the queue is an
// interface with an embedded implementation (boltqueue) and, for
// clusters, a Redis one.
package delivery

import (
	"context"
	"errors"
	"time"
)

// Message is one event on its way to one receiver.
type Message struct {
	// ID is the message's id, the same across its attempts and replays:
	// receivers dedupe on it (Standard Webhooks' webhook-id).
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
	// NextAt is when the next attempt is due.
	NextAt time.Time
	// LastError is the last attempt's failure, for operators (never a
	// secret: receivers' answers are cut and kept as text).
	LastError string
	// LastStatus is the last attempt's HTTP status, 0 when none came.
	LastStatus int
}

// Queue keeps messages until they are delivered or dead. Implementations
// are safe for concurrent use.
type Queue interface {
	// Enqueue stores msgs durably: when it returns nil they survive a
	// crash of the process. Implementations batch concurrent calls into
	// one commit (group commit) rather than paying one each.
	Enqueue(ctx context.Context, msgs ...Message) error
	// Lease returns up to max messages due at now, each hidden from
	// other Lease calls for lease (a worker that dies leaves them to be
	// leased again once it runs out: at-least-once).
	Lease(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Message, error)
	// Done removes a delivered message.
	Done(ctx context.Context, m Message) error
	// Retry puts a failed message back, due at m.NextAt, with m's
	// Attempt, LastError and LastStatus.
	Retry(ctx context.Context, m Message) error
	// Dead moves a message to the dead letters.
	Dead(ctx context.Context, m Message) error
	// Close releases the queue.
	Close() error
}

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

// Sender makes one attempt to deliver a message to its receiver.
type Sender interface {
	Send(ctx context.Context, m Message) Result
}
