package redisqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// Lease leases receiver's due messages (see the package doc). A message
// whose hash is damaged is not returned: it goes to the dead letters,
// with why.
func (q *Queue) Lease(ctx context.Context, receiver string, now time.Time, max int, lease time.Duration) ([]delivery.Message, time.Time, error) {
	if err := q.check(); err != nil {
		return nil, time.Time{}, err
	}
	if max <= 0 {
		return nil, time.Time{}, fmt.Errorf("%w: Lease of %d messages", delivery.ErrInvalid, max)
	}
	end := micros(now.Add(lease))
	v, err := q.run(ctx, "lease", leaseScript, receiver, itoa(micros(now)), max, itoa(end))
	if err != nil {
		return nil, time.Time{}, err
	}
	a, _ := v.([]any)
	if len(a) == 0 || len(a)%2 != 1 {
		return nil, time.Time{}, fmt.Errorf("redisqueue: lease: %w: the script answered %T", errDamaged, v)
	}
	var next time.Time
	if us, ok := score(a[0]); ok {
		next = time.UnixMicro(us).UTC()
	}
	out := make([]delivery.Message, 0, len(a)/2)
	for i := 1; i+1 < len(a); i += 2 {
		id, _ := a[i].(string)
		f := fields(a[i+1])
		e, err := decode(id, receiver, f)
		if err == nil && !q.mac.ok(e.Message, f["mac"]) {
			err = fmt.Errorf("redisqueue: message %q: %w: its MAC does not match (not written by an instance holding the cluster's secret)", id, errDamaged)
		}
		if err != nil {
			if err := q.bury(ctx, e, err, now); err != nil {
				return nil, time.Time{}, err
			}
			continue
		}
		e.Lease = end
		out = append(out, e.Message)
	}
	return out, next, nil
}

// bury moves a damaged message to the dead letters with what could be
// read of it, and why, so that it is neither delivered garbled nor leased
// again and again.
func (q *Queue) bury(ctx context.Context, e delivery.Entry, why error, now time.Time) error {
	e.LastError = why.Error()
	_, err := q.run(ctx, "dead", deadScript, e.ID, e.Attempt, e.LastError, e.LastStatus, itoa(nanos(now)), itoa(micros(now)), "0",
		"id", e.ID, "r", e.Receiver, "ev", e.Event, "t", itoa(nanos(e.Time)), "p", e.Payload, "n", itoa(nanos(e.NextAt)), "eq", itoa(nanos(e.EnqueuedAt)))
	return err
}

// Done removes m.
func (q *Queue) Done(ctx context.Context, m delivery.Message) error {
	if err := q.check(); err != nil {
		return err
	}
	_, err := q.run(ctx, "done", doneScript, m.ID)
	return err
}

// Retry puts m back, due at m.NextAt.
func (q *Queue) Retry(ctx context.Context, m delivery.Message) error {
	if err := q.check(); err != nil {
		return err
	}
	due := m.NextAt
	if due.IsZero() {
		due = q.opts.Now()
	}
	_, err := q.run(ctx, "retry", retryScript, m.ID, m.Attempt, m.LastError, m.LastStatus, itoa(nanos(m.NextAt)), itoa(micros(due)), itoa(m.Lease))
	return err
}

// Dead moves m to the dead letters.
func (q *Queue) Dead(ctx context.Context, m delivery.Message) error {
	if err := q.check(); err != nil {
		return err
	}
	now := q.opts.Now()
	_, err := q.run(ctx, "dead", deadScript, m.ID, m.Attempt, m.LastError, m.LastStatus, itoa(nanos(now)), itoa(micros(now)), itoa(m.Lease))
	return err
}

// Counts counts each receiver's indexes.
func (q *Queue) Counts(ctx context.Context) (map[string]delivery.Counts, error) {
	if err := q.check(); err != nil {
		return nil, err
	}
	v, err := q.run(ctx, "counts", countsScript)
	if err != nil {
		return nil, err
	}
	a, _ := v.([]any)
	out := make(map[string]delivery.Counts, len(a)/4)
	for i := 0; i+3 < len(a); i += 4 {
		r, _ := a[i].(string)
		p, _ := a[i+1].(int64)
		d, _ := a[i+2].(int64)
		c := delivery.Counts{Pending: int(p), Dead: int(d)}
		if eq, ok := a[i+3].(string); ok && eq != "" {
			var ns int64
			if _, err := fmt.Sscan(eq, &ns); err == nil {
				c.OldestPending = fromNanos(ns)
			}
		}
		out[r] = c
	}
	return out, nil
}
