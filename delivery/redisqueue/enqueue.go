package redisqueue

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/groupcommit"
)

// enqueueOp is one Enqueue call waiting for its batch.
type enqueueOp = groupcommit.Op[[]delivery.Message]

// Enqueue stores msgs in the next batch and returns once Redis has it
// (and, with Options.Replicas, its replicas). When ctx ends first, ctx's
// error comes back and the batch may still store them.
func (q *Queue) Enqueue(ctx context.Context, msgs ...delivery.Message) error {
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return err
		}
	}
	if err := q.check(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	return q.ops.Submit(ctx, msgs, delivery.ErrClosed)
}

// commitLoop takes the calls that are waiting, up to MaxBatch messages
// (a call larger than that goes alone), and stores them together, until
// Close.
func (q *Queue) commitLoop() {
	defer q.wg.Done()
	q.ops.Loop(q.opts.MaxBatch, func(msgs []delivery.Message) int { return len(msgs) }, q.commit)
}

// commit stores a batch with one script call and answers each call.
func (q *Queue) commit(batch []*enqueueOp) {
	n := 0
	for _, o := range batch {
		n += len(o.Value)
	}
	now := q.opts.Now()
	nowus := micros(now)
	args := make([]any, 0, 4+len(batch)+11*n)
	args = append(args, q.base, itoa(nanos(now)), itoa(nowus), len(batch))
	for _, o := range batch {
		args = append(args, len(o.Value))
		for _, m := range o.Value {
			due := nowus
			if !m.NextAt.IsZero() {
				due = micros(m.NextAt)
			}
			args = append(args, m.ID, m.Receiver, m.Event, itoa(nanos(m.Time)), m.Payload,
				m.Attempt, itoa(nanos(m.NextAt)), m.LastError, m.LastStatus, itoa(due), q.mac.sum(m))
		}
	}
	// Not the callers' contexts: one caller giving up must not fail the
	// others' batch. The Conn's timeouts bound it.
	ctx := context.Background()
	v, err := q.write(ctx, args)
	q.batches.Add(1)
	answers, _ := v.([]any)
	if err == nil && len(answers) != len(batch) {
		err = fmt.Errorf("redisqueue: enqueue: %w: the script answered %T %v", errDamaged, v, v)
	}
	for i, o := range batch {
		if err != nil {
			o.Done(err)
			continue
		}
		if why, _ := answers[i].(string); why != "" {
			o.Done(fmt.Errorf("redisqueue: enqueue refused: %w: %s", errDamaged, why))
			continue
		}
		o.Done(nil)
	}
}

// write runs the enqueue script, then WAIT when replicas must have it.
// WAIT goes on the same connection, in one pipeline with the script:
// it counts the replicas that have what that connection wrote.
func (q *Queue) write(ctx context.Context, args []any) (any, error) {
	if q.opts.Replicas == 0 && !q.waitAlways {
		var v any
		err := q.conn.Bounded(ctx, func(ctx context.Context) (err error) {
			v, err = enqueueScript.Run(ctx, q.c, q.keys, args...).Result()
			return err
		})
		return v, q.fail("enqueue", err)
	}
	for attempt := 0; ; attempt++ {
		var ev, wait *redis.Cmd
		// WAIT blocks in Redis for up to its timeout: the bound has it on
		// top. Exec returns the first failed command's error.
		err := q.conn.BoundedPlus(ctx, q.opts.ReplicaTimeout, func(ctx context.Context) error {
			pipe := q.c.Pipeline()
			ev = pipe.EvalSha(ctx, enqueueScript.Hash(), q.keys, args...)
			wait = pipe.Do(ctx, "wait", q.opts.Replicas, q.opts.ReplicaTimeout.Milliseconds())
			_, err := pipe.Exec(ctx)
			return err
		})
		if e := ev.Err(); e != nil && strings.HasPrefix(e.Error(), "NOSCRIPT") && attempt == 0 {
			if err := q.fail("enqueue", q.conn.Bounded(ctx, func(ctx context.Context) error { return enqueueScript.Load(ctx, q.c).Err() })); err != nil {
				return nil, err
			}
			continue
		}
		if ev.Err() != nil {
			return nil, q.fail("enqueue", err)
		}
		if wait.Err() != nil {
			return nil, q.fail("enqueue wait", err)
		}
		if got, _ := wait.Int64(); got < int64(q.opts.Replicas) {
			q.conn.Note("queue enqueue wait", nil)
			return nil, fmt.Errorf("%w: redisqueue: enqueue: %d of %d replicas acknowledged within %s (the messages may be on the primary; enqueue them again)",
				delivery.ErrUnavailable, got, q.opts.Replicas, q.opts.ReplicaTimeout)
		}
		return ev.Val(), q.fail("enqueue", nil)
	}
}
