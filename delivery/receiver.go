package delivery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// ReceiverState is whether a receiver's messages are attempted.
type ReceiverState string

const (
	// Active: its messages are attempted when due.
	Active ReceiverState = "active"
	// Paused: it failed for long; one message is attempted at each probe
	// time, the others wait.
	Paused ReceiverState = "paused"
	// Disabled: it answered 410 Gone; its messages wait, unattempted,
	// until Enable (or a new configuration).
	Disabled ReceiverState = "disabled"
	// Unconfigured: the queue holds messages for a receiver the
	// configuration no longer has; they wait.
	Unconfigured ReceiverState = "unconfigured"
)

// receiver is a Receiver and what the dispatcher knows of it. The
// dispatcher alone touches dueKnown and nextDue; the rest is guarded by
// Deliverer.mu.
type receiver struct {
	name string
	Receiver

	inflight int
	dueKnown bool      // nextDue is what the queue said
	nextDue  time.Time // zero: nothing pending

	state        ReceiverState
	failures     int // consecutive
	failingSince time.Time
	lastError    string
	lastFailure  time.Time
	lastSuccess  time.Time
	pausedAt     time.Time
	probeAt      time.Time
	probeEvery   time.Duration
	holdUntil    time.Time // a Retry-After
	marked       bool      // its Disabled state is in the Marks
}

// free is how many attempts r may start at now, and when that changes
// by itself (zero: not by itself). d.mu is held.
func (r *receiver) free(now time.Time) (int, time.Time) {
	switch {
	case r.state == Disabled:
		return 0, time.Time{}
	case r.holdUntil.After(now):
		return 0, r.holdUntil
	case r.state == Paused && r.probeAt.After(now):
		return 0, r.probeAt
	case r.state == Paused:
		return 1 - r.inflight, time.Time{}
	}
	return r.Concurrency - r.inflight, time.Time{}
}

// leased notes that messages were leased at now: for a paused receiver,
// that was its probe, and the next is due a probe interval later unless
// this one succeeds. d.mu is held.
func (r *receiver) leased(now time.Time) {
	if r.state == Paused {
		r.probeAt = now.Add(r.probeEvery)
	}
}

// outcome is an attempt's end, reported to the dispatcher.
type outcome struct {
	r       *receiver
	res     Result
	at      time.Time
	next    time.Time // the message's next attempt, when it has one
	aborted bool      // cancelled by Close: not an attempt
	marked  bool      // a 410 whose disabled mark was stored
}

// maxLastError bounds the failure text kept with a message.
const maxLastError = 1000

// attempt sends m and writes what came of it; it runs in a goroutine of
// its own.
func (d *Deliverer) attempt(r *receiver, m Message) {
	res := d.send(r, m)
	now := d.clock.Now()
	o := outcome{r: r, res: res, at: now}
	// The queue's writes go on when Close cancels the sends: the
	// outcome is known and must be kept.
	ctx := context.Background()
	var err error
	switch {
	case res.Err == nil:
		err = d.q.Done(ctx, m)
	case d.sendCtx.Err() != nil:
		o.aborted = true
		m.NextAt = now
		err = d.q.Retry(ctx, m)
	default:
		m.Attempt++
		m.LastError, m.LastStatus = cut(res.Err.Error()), res.Status
		delay, more := backoff(r.Schedule, m.Attempt, d.opts.Jitter)
		switch {
		case errors.Is(res.Err, ErrGone):
			o.marked = d.markDisabled(r, now, cut(res.Err.Error()))
			// Kept for when the receiver is enabled again.
			m.NextAt = now
			err = d.q.Retry(ctx, m)
		case errors.Is(res.Err, ErrRejected):
			err = d.q.Dead(ctx, m)
		case more:
			if ra := min(res.RetryAfter, d.opts.MaxRetryAfter); ra > delay {
				delay = ra
			}
			m.NextAt = now.Add(delay)
			o.next = m.NextAt
			err = d.q.Retry(ctx, m)
		default:
			err = d.q.Dead(ctx, m)
		}
	}
	if err != nil {
		// The lease runs out and the message is attempted again.
		d.queueFailed("write an outcome", err)
	} else {
		d.queueOK()
	}
	d.outcomes <- o
}

// send makes one attempt, within the receiver's timeout; a Sender that
// panics fails the attempt, not the process.
func (d *Deliverer) send(r *receiver, m Message) (res Result) {
	ctx, cancel := context.WithTimeout(d.sendCtx, r.AttemptTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			res = Result{Err: fmt.Errorf("the sender panicked: %v", p)}
		}
	}()
	return r.Sender.Send(ctx, m)
}

func cut(s string) string {
	if len(s) > maxLastError {
		return s[:maxLastError] + "…"
	}
	return s
}

// settle takes an attempt's outcome into its receiver's state.
func (d *Deliverer) settle(o outcome) {
	r := o.r
	d.inflight--
	if !o.next.IsZero() && r.dueKnown && (r.nextDue.IsZero() || o.next.Before(r.nextDue)) {
		r.nextDue = o.next
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r.inflight--
	if o.aborted {
		return
	}
	if ra := o.res.RetryAfter; ra > 0 {
		r.holdUntil = o.at.Add(min(ra, d.opts.MaxRetryAfter))
	}
	switch {
	case o.res.Err == nil:
		if r.state == Paused {
			d.log.Info("receiver delivering again; pause over",
				zap.String("receiver", r.name), zap.Duration("paused_for", o.at.Sub(r.pausedAt)),
				zap.Int("failed_attempts", r.failures))
			r.state = Active
		}
		r.failures, r.lastSuccess = 0, o.at
	case errors.Is(o.res.Err, ErrGone):
		r.lastError, r.lastFailure = cut(o.res.Err.Error()), o.at
		r.marked = r.marked || o.marked
		if r.state != Disabled {
			r.state = Disabled
			d.log.Error("receiver answered 410 Gone: disabled; its messages are kept but not attempted until it is enabled again",
				zap.String("receiver", r.name))
		}
	default:
		r.failures++
		if r.failures == 1 {
			r.failingSince = o.at
		}
		r.lastError, r.lastFailure = cut(o.res.Err.Error()), o.at
		switch r.state {
		case Active:
			if r.failures >= d.opts.PauseAfterFailures || (r.failures >= 2 && o.at.Sub(r.failingSince) >= d.opts.PauseAfter) {
				r.state, r.pausedAt, r.probeEvery = Paused, o.at, d.opts.ProbeInterval
				r.probeAt = o.at.Add(r.probeEvery)
				d.log.Warn("receiver failing: paused; its messages wait, one is tried at each probe",
					zap.String("receiver", r.name), zap.Int("failed_attempts", r.failures),
					zap.Duration("failing_for", o.at.Sub(r.failingSince)), zap.String("last_error", r.lastError),
					zap.Duration("first_probe_in", r.probeEvery))
			}
		case Paused:
			r.probeEvery = min(2*r.probeEvery, d.opts.MaxProbeInterval)
			r.probeAt = o.at.Add(r.probeEvery)
		}
	}
}

// ReceiverHealth is a receiver's state as operators see it.
type ReceiverHealth struct {
	Name                string
	State               ReceiverState
	ConsecutiveFailures int
	LastError           string
	LastFailure         time.Time
	LastSuccess         time.Time
	// PausedAt and NextProbe are set while paused.
	PausedAt, NextProbe time.Time
	// HeldUntil is when a Retry-After ends, when one holds.
	HeldUntil time.Time
	InFlight  int
	// Pending, Dead and OldestPending are the queue's.
	Pending, Dead int
	OldestPending time.Time
}

// Health reports every receiver, configured or with messages in the
// queue, by name.
func (d *Deliverer) Health(ctx context.Context) ([]ReceiverHealth, error) {
	counts, err := d.q.Counts(ctx)
	if err != nil {
		return nil, err
	}
	var out []ReceiverHealth
	d.mu.Lock()
	for _, r := range d.order {
		h := ReceiverHealth{
			Name: r.name, State: r.state, ConsecutiveFailures: r.failures,
			LastError: r.lastError, LastFailure: r.lastFailure, LastSuccess: r.lastSuccess,
			InFlight: r.inflight,
		}
		if r.state == Paused {
			h.PausedAt, h.NextProbe = r.pausedAt, r.probeAt
		}
		if r.holdUntil.After(d.clock.Now()) {
			h.HeldUntil = r.holdUntil
		}
		out = append(out, h)
	}
	d.mu.Unlock()
	for i := range out {
		c := counts[out[i].Name]
		out[i].Pending, out[i].Dead, out[i].OldestPending = c.Pending, c.Dead, c.OldestPending
		delete(counts, out[i].Name)
	}
	for name, c := range counts {
		out = append(out, ReceiverHealth{Name: name, State: Unconfigured, Pending: c.Pending, Dead: c.Dead, OldestPending: c.OldestPending})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// episode logs a run of queue failures once at its start and once at its
// end.
type episode struct {
	mu      sync.Mutex
	failing bool
	since   time.Time
	n       int
}

func (d *Deliverer) queueFailed(what string, err error) {
	e := &d.queueHealth
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.failing {
		return
	}
	e.failing, e.since = true, d.clock.Now()
	d.log.Error("delivery queue failing; messages in flight are attempted again when their lease ends",
		zap.String("op", what), zap.Error(err))
}

func (d *Deliverer) queueOK() {
	e := &d.queueHealth
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.failing {
		return
	}
	d.log.Warn("delivery queue works again", zap.Duration("failed_for", d.clock.Now().Sub(e.since)), zap.Int("failures", e.n))
	e.failing, e.n = false, 0
}
