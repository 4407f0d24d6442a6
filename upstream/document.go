package upstream

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Document is one document of the IdP, fetched on first use and cached:
// fresh for TTL; when a refetch fails the copy in hand is served (an IdP's
// keys and endpoints rarely move) and the next attempt waits, doubling
// from RetryAfter up to MaxRetryAfter, so a down or hostile IdP is not
// fetched on every request. Concurrent fetches collapse into one.
type Document[T any] struct {
	// Fetch gets the document; it must not return a zero T with a nil
	// error.
	Fetch func(ctx context.Context) (T, error)

	TTL           time.Duration // default 1 hour
	RetryAfter    time.Duration // first wait after a failure, default 2 s; negative: none
	MaxRetryAfter time.Duration // default 1 minute

	// state is swapped whole, never changed in place: every request reads
	// it, and a lock there would be shared by all cores.
	state atomic.Pointer[docState[T]]
	group singleflight.Group
	now   func() time.Time
}

type docState[T any] struct {
	doc      T
	has      bool
	fetched  time.Time // of doc; zero after Invalidate
	err      error     // the last failure
	errAt    time.Time // when it happened
	failures int       // in a row
}

// backingOff reports whether a fetch must wait after failures: the wait
// doubles with each failure in a row.
func (d *Document[T]) backingOff(st *docState[T], now time.Time) bool {
	if st.failures == 0 {
		return false
	}
	wait := d.retryAfter()
	for k := 1; k < st.failures && wait < d.maxRetryAfter(); k++ {
		wait *= 2
	}
	return now.Sub(st.errAt) < min(wait, d.maxRetryAfter())
}

func (d *Document[T]) clock() time.Time {
	if d.now != nil {
		return d.now()
	}
	return time.Now()
}

// Get returns the document, fetching it when absent or stale.
func (d *Document[T]) Get(ctx context.Context) (T, error) {
	st := d.state.Load()
	now := d.clock()
	if st != nil {
		if st.has && now.Sub(st.fetched) < d.ttl() {
			return st.doc, nil
		}
		if d.backingOff(st, now) {
			if st.has {
				return st.doc, nil
			}
			return st.doc, st.err
		}
	}
	return d.fetch(ctx)
}

// Refresh fetches the document again unless it was fetched (or a fetch
// failed) less than minAge ago: the caller has a reason (a token naming a
// key the set does not hold), but a forged reason must not make idphooks a
// load generator on the IdP. It reports whether a fetch was made.
func (d *Document[T]) Refresh(ctx context.Context, minAge time.Duration) (T, bool, error) {
	st := d.state.Load()
	now := d.clock()
	if st != nil {
		if (st.has && now.Sub(st.fetched) < minAge) || d.backingOff(st, now) {
			if st.has {
				return st.doc, false, nil
			}
			return st.doc, false, st.err
		}
	}
	v, err := d.fetch(ctx)
	return v, true, err
}

func (d *Document[T]) fetch(ctx context.Context) (T, error) {
	v, err, _ := d.group.Do("", func() (any, error) {
		// The fetch serves every waiter: the first caller hanging up must
		// not fail the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), FetchTimeout)
		defer cancel()
		doc, err := d.Fetch(fctx)
		now := d.clock()
		if err != nil {
			d.update(func(st *docState[T]) { st.err, st.errAt, st.failures = err, now, st.failures+1 })
			return nil, err
		}
		d.update(func(st *docState[T]) { *st = docState[T]{doc: doc, has: true, fetched: now} })
		return doc, nil
	})
	if err != nil {
		if st := d.state.Load(); st != nil && st.has {
			return st.doc, nil
		}
		var zero T
		return zero, err
	}
	return v.(T), nil
}

// Cached returns the document in hand, fresh or not.
func (d *Document[T]) Cached() (T, bool) {
	if st := d.state.Load(); st != nil && st.has {
		return st.doc, true
	}
	var zero T
	return zero, false
}

// LastError is the error of the last fetch when it failed, or nil.
func (d *Document[T]) LastError() error {
	if st := d.state.Load(); st != nil && st.failures > 0 {
		return st.err
	}
	return nil
}

// Invalidate makes the next Get fetch again, keeping the current document
// as the fallback should that fetch fail, and forgets any backoff. A config
// reload calls it: the IdP may have moved since.
func (d *Document[T]) Invalidate() {
	d.update(func(st *docState[T]) { st.fetched, st.failures = time.Time{}, 0 })
}

// update replaces the state with a changed copy of it.
func (d *Document[T]) update(change func(*docState[T])) {
	for {
		old := d.state.Load()
		next := new(docState[T])
		if old != nil {
			*next = *old
		}
		change(next)
		if d.state.CompareAndSwap(old, next) {
			return
		}
	}
}

func (d *Document[T]) ttl() time.Duration {
	if d.TTL > 0 {
		return d.TTL
	}
	return time.Hour
}

func (d *Document[T]) retryAfter() time.Duration {
	switch {
	case d.RetryAfter < 0:
		return 0
	case d.RetryAfter > 0:
		return d.RetryAfter
	}
	return 2 * time.Second
}

func (d *Document[T]) maxRetryAfter() time.Duration {
	if d.MaxRetryAfter > 0 {
		return d.MaxRetryAfter
	}
	return time.Minute
}
