package delivery

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// Marks keeps which receivers are disabled (they answered 410 Gone)
// outside the process: a restart keeps them disabled, and so do the other
// instances of a cluster that share the Marks, until one of them enables
// the receiver again. Pauses are not kept: they end by themselves, at the
// first probe that succeeds.
type Marks interface {
	// Disabled returns the receivers marked disabled, by name.
	Disabled(ctx context.Context) (map[string]Mark, error)
	// MarkDisabled marks a receiver disabled.
	MarkDisabled(ctx context.Context, receiver string, m Mark) error
	// ClearDisabled removes the mark; a missing one is no error.
	ClearDisabled(ctx context.Context, receiver string) error
}

// Mark is why and since when a receiver is disabled.
type Mark struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
}

// marksTimeout bounds one read or write of the marks: they must never
// hold up delivery.
const marksTimeout = 5 * time.Second

// loadMarks takes the marks into the receivers' states: a receiver
// marked elsewhere (or before a restart) is disabled here too; one whose
// mark was cleared elsewhere (an Enable on another instance) is enabled.
// It runs on the dispatcher, at start and at each rescan. A failing read
// is logged and changes nothing.
func (d *Deliverer) loadMarks(ctx context.Context) {
	if d.opts.Marks == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, marksTimeout)
	defer cancel()
	marks, err := d.opts.Marks.Disabled(ctx)
	if err != nil {
		d.marksFailed("read", err)
		return
	}
	d.marksOK()
	var enabled []string
	d.mu.Lock()
	for _, r := range d.order {
		m, marked := marks[r.name]
		switch {
		case marked && r.state != Disabled:
			r.state, r.marked = Disabled, true
			r.lastError, r.lastFailure = m.Reason, m.Since
			d.log.Warn("receiver disabled (marked so before a restart, or by another instance); its messages wait until it is enabled again",
				zap.String("receiver", r.name), zap.Time("since", m.Since))
		case marked:
			r.marked = true
		case r.state == Disabled && r.marked:
			// The mark this instance saw is gone: enabled elsewhere.
			r.state, r.marked, r.failures, r.holdUntil = Active, false, 0, time.Time{}
			enabled = append(enabled, r.name)
			d.log.Info("receiver enabled (by another instance)", zap.String("receiver", r.name))
		}
	}
	d.mu.Unlock()
	if len(enabled) > 0 {
		d.Notify(enabled...)
	}
}

// markDisabled records that r answered 410; it runs in the attempt's
// goroutine and reports whether the mark is stored.
func (d *Deliverer) markDisabled(r *receiver, at time.Time, reason string) bool {
	if d.opts.Marks == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), marksTimeout)
	defer cancel()
	if err := d.opts.Marks.MarkDisabled(ctx, r.name, Mark{Since: at, Reason: reason}); err != nil {
		d.marksFailed("write", err)
		return false
	}
	d.marksOK()
	return true
}

func (d *Deliverer) marksFailed(op string, err error) {
	d.marksHealth.mu.Lock()
	defer d.marksHealth.mu.Unlock()
	if d.marksHealth.failing {
		return
	}
	d.marksHealth.failing = true
	d.log.Error("receivers' disabled marks unavailable: a receiver disabled now stays so only in this process, until the marks work again",
		zap.String("op", op), zap.Error(err))
}

func (d *Deliverer) marksOK() {
	d.marksHealth.mu.Lock()
	defer d.marksHealth.mu.Unlock()
	if d.marksHealth.failing {
		d.marksHealth.failing = false
		d.log.Warn("receivers' disabled marks work again")
	}
}
