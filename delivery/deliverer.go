package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Receiver is one destination of messages and how to treat it.
type Receiver struct {
	Sender Sender
	// Concurrency bounds this receiver's attempts in flight. Default 4.
	Concurrency int
	// Schedule, when set, replaces Options.Schedule for this receiver.
	Schedule []time.Duration
	// AttemptTimeout, when positive, replaces Options.AttemptTimeout.
	AttemptTimeout time.Duration
}

// Options configures a Deliverer. Only Queue and Receivers are needed.
type Options struct {
	Queue Queue
	// Receivers by name, the Message.Receiver of their messages.
	Receivers map[string]Receiver
	// Concurrency bounds the attempts in flight over all receivers.
	// Default 32.
	Concurrency int
	// Schedule is the delay before each attempt, from the one before;
	// its length is the number of attempts. Default DefaultSchedule.
	Schedule []time.Duration
	// Jitter spreads each delay over ±Jitter of it. Default
	// DefaultJitter; negative: none.
	Jitter float64
	// MaxRetryAfter bounds how long a receiver's Retry-After holds its
	// messages back. Default 1 hour.
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds one attempt. Default 15 seconds.
	AttemptTimeout time.Duration
	// Lease is how long a leased message stays hidden: if the process
	// dies, its messages in flight are attempted again that long after.
	// It must exceed the longest AttemptTimeout. Default that plus a
	// minute.
	Lease time.Duration
	// A receiver is paused after PauseAfterFailures consecutive failed
	// attempts (default 20), or when every attempt failed for
	// PauseAfter (default 5 minutes). A paused receiver gets one attempt
	// (a probe, the message due first) ProbeInterval after the pause
	// (default 30 seconds), then at doubling intervals up to
	// MaxProbeInterval (default 10 minutes); the first that succeeds
	// ends the pause. Its messages wait meanwhile, their attempts
	// unspent.
	PauseAfterFailures int
	PauseAfter         time.Duration
	ProbeInterval      time.Duration
	MaxProbeInterval   time.Duration
	// Rescan is how often every receiver's due messages are looked up
	// again even when nothing said there are new ones (a message
	// enqueued by another process, a lease run out). Default 1 minute.
	Rescan time.Duration
	// Marks, when set, keeps receivers disabled across restarts and the
	// instances that share it (see Marks); read at start and each rescan.
	Marks Marks
	// Clock is the time. Default: real time.
	Clock Clock
	// Logger receives one line per episode (a receiver paused, back,
	// disabled; the queue failing, back), never one per message.
	Logger *zap.Logger
}

// Deliverer sends the queue's messages to their receivers: a dispatcher
// goroutine leases what is due, within the concurrency bounds, and hands
// each message to a goroutine of its own that makes the attempt and
// writes its outcome (Done, Retry, Dead) to the queue.
type Deliverer struct {
	q         Queue
	opts      Options
	clock     Clock
	log       *zap.Logger
	receivers map[string]*receiver
	order     []*receiver // by name; dispatch starts one further each round
	rr        int

	// mu guards the receivers' state and notified.
	mu          sync.Mutex
	notified    map[string]bool
	notifiedAll bool
	kick        chan struct{}

	outcomes chan outcome
	inflight int // the dispatcher's

	sendCtx     context.Context
	cancelSends context.CancelFunc
	stop        chan struct{}
	done        chan struct{}
	startOnce   sync.Once
	stopOnce    sync.Once
	queueHealth episode
	marksHealth episode

	idle func(next time.Time) // tests: called when nothing is in flight
}

// New checks opts and returns a Deliverer; Start starts it.
func New(opts Options) (*Deliverer, error) {
	if opts.Queue == nil {
		return nil, errors.New("delivery: no queue")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 32
	}
	if opts.Schedule == nil {
		opts.Schedule = DefaultSchedule
	}
	if len(opts.Schedule) == 0 {
		return nil, errors.New("delivery: an empty schedule (it needs at least one attempt)")
	}
	if opts.Jitter == 0 {
		opts.Jitter = DefaultJitter
	}
	if opts.Jitter < 0 || opts.Jitter >= 1 {
		opts.Jitter = max(0, min(opts.Jitter, 0.99))
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = time.Hour
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 15 * time.Second
	}
	if opts.PauseAfterFailures <= 0 {
		opts.PauseAfterFailures = 20
	}
	if opts.PauseAfter <= 0 {
		opts.PauseAfter = 5 * time.Minute
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = 30 * time.Second
	}
	if opts.MaxProbeInterval < opts.ProbeInterval {
		opts.MaxProbeInterval = max(10*time.Minute, opts.ProbeInterval)
	}
	if opts.Rescan <= 0 {
		opts.Rescan = time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	// The lease must outlast the longest attempt: each receiver's own
	// timeout (the default for those without one).
	longest := time.Duration(0)
	if len(opts.Receivers) == 0 {
		longest = opts.AttemptTimeout
	}
	d := &Deliverer{
		q: opts.Queue, opts: opts, clock: opts.Clock, log: opts.Logger,
		receivers: map[string]*receiver{}, notified: map[string]bool{},
		kick: make(chan struct{}, 1), outcomes: make(chan outcome, opts.Concurrency),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for name, rc := range opts.Receivers {
		if rc.Sender == nil {
			return nil, fmt.Errorf("delivery: receiver %q has no sender", name)
		}
		r := &receiver{name: name, Receiver: rc, state: Active}
		if r.Concurrency <= 0 {
			r.Concurrency = 4
		}
		if r.Schedule == nil {
			r.Schedule = opts.Schedule
		}
		if len(r.Schedule) == 0 {
			return nil, fmt.Errorf("delivery: receiver %q has an empty schedule", name)
		}
		if r.AttemptTimeout <= 0 {
			r.AttemptTimeout = opts.AttemptTimeout
		}
		longest = max(longest, r.AttemptTimeout)
		d.receivers[name] = r
		d.order = append(d.order, r)
	}
	slices.SortFunc(d.order, func(a, b *receiver) int { return compareStrings(a.name, b.name) })
	if opts.Lease <= 0 {
		opts.Lease = longest + time.Minute
	}
	if opts.Lease <= longest {
		return nil, fmt.Errorf("delivery: a lease of %s is not longer than an attempt's timeout (%s): attempts under way would be leased again", opts.Lease, longest)
	}
	d.opts.Lease = opts.Lease
	d.sendCtx, d.cancelSends = context.WithCancel(context.Background())
	return d, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Start starts delivering, until Close or the end of ctx.
func (d *Deliverer) Start(ctx context.Context) {
	d.startOnce.Do(func() { go d.run(ctx) })
}

// Close stops leasing and waits for the attempts under way until ctx
// ends, then cancels them; a cancelled attempt does not count, its
// message is due again at once. The queue stays open (its owner closes
// it, after this).
func (d *Deliverer) Close(ctx context.Context) error {
	d.stopOnce.Do(func() { close(d.stop) })
	// Never started: nothing will close done but this.
	d.startOnce.Do(func() { close(d.done) })
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		d.cancelSends()
		<-d.done
		return ctx.Err()
	}
}

// Enqueue stores msgs in the queue (see Queue.Enqueue) and wakes the
// dispatcher for them. A message for a receiver this Deliverer does not
// know is refused, all of msgs with it.
func (d *Deliverer) Enqueue(ctx context.Context, msgs ...Message) error {
	for _, m := range msgs {
		if _, ok := d.receivers[m.Receiver]; !ok {
			return fmt.Errorf("%w: %s is for %q, which is not a receiver", ErrInvalid, m.ID, m.Receiver)
		}
	}
	if err := d.q.Enqueue(ctx, msgs...); err != nil {
		return err
	}
	names := make([]string, 0, 1)
	for _, m := range msgs {
		if !slices.Contains(names, m.Receiver) {
			names = append(names, m.Receiver)
		}
	}
	d.Notify(names...)
	return nil
}

// Notify tells the dispatcher that receivers (all when none is named)
// may have messages due that it does not know of: after a Replay, or an
// Enqueue made on the queue directly.
func (d *Deliverer) Notify(receivers ...string) {
	d.mu.Lock()
	if len(receivers) == 0 {
		d.notifiedAll = true
	}
	for _, r := range receivers {
		d.notified[r] = true
	}
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Has reports whether name is one of the deliverer's receivers.
func (d *Deliverer) Has(name string) bool {
	_, ok := d.receivers[name]
	return ok
}

// Enable ends a receiver's disabled state (after a 410) or pause: its
// messages are attempted again at once.
func (d *Deliverer) Enable(name string) error {
	r, ok := d.receivers[name]
	if !ok {
		return fmt.Errorf("delivery: no receiver %q", name)
	}
	if d.opts.Marks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), marksTimeout)
		defer cancel()
		// Cleared first: an instance that reads the marks meanwhile must
		// not disable it again after this one enabled it.
		if err := d.opts.Marks.ClearDisabled(ctx, name); err != nil {
			return fmt.Errorf("delivery: enabling %q: clearing its disabled mark: %w", name, err)
		}
	}
	d.mu.Lock()
	was := r.state
	r.state, r.failures, r.holdUntil, r.marked = Active, 0, time.Time{}, false
	d.mu.Unlock()
	if was != Active {
		d.log.Info("receiver enabled", zap.String("receiver", name), zap.String("was", string(was)))
	}
	d.Notify(name)
	return nil
}

// run is the dispatcher.
func (d *Deliverer) run(ctx context.Context) {
	defer close(d.done)
	var armed time.Time
	var timer <-chan time.Time
	rescanAt := d.clock.Now().Add(d.opts.Rescan)
	d.loadMarks(ctx)
	for {
		now := d.clock.Now()
		if !now.Before(rescanAt) {
			d.loadMarks(ctx)
			d.Notify()
			rescanAt = now.Add(d.opts.Rescan)
		}
		d.takeNotified()
		wake := earliest(d.dispatch(ctx, now), rescanAt)
		if d.inflight == 0 && d.idle != nil {
			d.idle(wake)
		}
		if wait := wake.Sub(d.clock.Now()); wait <= 0 {
			continue
		} else if !wake.Equal(armed) {
			armed, timer = wake, d.clock.After(wait)
		}
		select {
		case <-d.stop:
			d.drain(ctx)
			return
		case <-ctx.Done():
			d.cancelSends()
			d.drain(ctx)
			return
		case <-d.kick:
		case o := <-d.outcomes:
			d.settle(o)
			// Take every outcome that is in, then dispatch once for all.
			for more := true; more; {
				select {
				case o := <-d.outcomes:
					d.settle(o)
				default:
					more = false
				}
			}
		case <-timer:
			armed, timer = time.Time{}, nil
		}
	}
}

// drain waits for the attempts in flight.
func (d *Deliverer) drain(ctx context.Context) {
	for d.inflight > 0 {
		select {
		case o := <-d.outcomes:
			d.settle(o)
		case <-ctx.Done():
			d.cancelSends()
			d.settle(<-d.outcomes)
		}
	}
}

// takeNotified forgets what the dispatcher knew of the notified
// receivers' next due time, so that it leases for them again.
func (d *Deliverer) takeNotified() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.notifiedAll {
		for _, r := range d.order {
			r.dueKnown = false
		}
	} else {
		for name := range d.notified {
			if r, ok := d.receivers[name]; ok {
				r.dueKnown = false
			}
		}
	}
	d.notifiedAll = false
	clear(d.notified)
}

// earliest is the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// dispatch leases and starts what is due and may start now, and returns
// when it should run next (zero: when something happens).
func (d *Deliverer) dispatch(ctx context.Context, now time.Time) time.Time {
	var wake time.Time
	n := len(d.order)
	start := d.rr
	d.rr = (d.rr + 1) % max(n, 1)
	for i := range n {
		if d.inflight >= d.opts.Concurrency {
			break
		}
		r := d.order[(start+i)%n]
		d.mu.Lock()
		free, at := r.free(now)
		d.mu.Unlock()
		free = min(free, d.opts.Concurrency-d.inflight)
		if !at.IsZero() {
			wake = earliest(wake, at)
		}
		if free <= 0 {
			continue
		}
		if r.dueKnown {
			if r.nextDue.IsZero() {
				continue
			}
			if r.nextDue.After(now) {
				wake = earliest(wake, r.nextDue)
				continue
			}
		}
		msgs, next, err := d.q.Lease(ctx, r.name, now, free, d.opts.Lease)
		if err != nil {
			d.queueFailed("lease", err)
			// Try again in a second rather than spin on a failing file.
			r.dueKnown, r.nextDue = true, now.Add(time.Second)
			wake = earliest(wake, r.nextDue)
			continue
		}
		r.dueKnown, r.nextDue = true, next
		if next.After(now) {
			wake = earliest(wake, next)
		}
		if len(msgs) == 0 {
			continue
		}
		d.mu.Lock()
		r.leased(now)
		r.inflight += len(msgs)
		d.mu.Unlock()
		d.inflight += len(msgs)
		for _, m := range msgs {
			go d.attempt(r, m)
		}
	}
	return wake
}
