package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Retries of a failed write start at the commit interval and double up to
// maxRetryDelay, so a full disk costs a few attempts a second at most,
// and writes resume within maxRetryDelay of it freeing up.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = 5 * time.Second
)

var errCorrupt = errors.New("store: state file is corrupt")

// health tracks whether the file can be written. A failure episode starts
// with the first failed commit or flush and ends with the first retry that
// succeeds; each logs one line, whatever the number of retries between.
type health struct {
	// failing is the refusal Set and Delete return during an episode;
	// nil when the store can write. Read on every write, without a lock.
	failing atomic.Pointer[error]

	mu       sync.Mutex
	since    time.Time
	attempts int
	forGood  bool // see refuseForGood
}

// unavailable returns the error for a write refused now, or nil.
func (b *Bolt) unavailable() error {
	if p := b.health.failing.Load(); p != nil {
		b.metrics.rejectedWrite()
		return *p
	}
	return nil
}

// writeFailed records a failed write (op is what failed) and starts an
// episode unless one is under way.
func (b *Bolt) writeFailed(op string, err error) {
	b.metrics.writeError()
	h := &b.health
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts++
	if h.failing.Load() != nil {
		return
	}
	h.since = b.now()
	refusal := fmt.Errorf("%w: %s failed: %w", ErrUnavailable, op, err)
	h.failing.Store(&refusal)
	b.metrics.addUnwritable(1)
	b.wake()
	b.log.Error("state store cannot write; token responses answer 503 until it can, retrying with backoff",
		zap.String("path", b.path), zap.String("op", op), zap.Error(err))
}

// writeOK ends an episode, if one is under way, unless writes are refused
// for good.
func (b *Bolt) writeOK() {
	h := &b.health
	if h.failing.Load() == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing.Load() == nil || h.forGood {
		return
	}
	h.failing.Store(nil)
	b.metrics.addUnwritable(-1)
	b.log.Warn("state store writes again",
		zap.String("path", b.path), zap.Duration("failed_for", b.now().Sub(h.since)), zap.Int("failed_attempts", h.attempts))
	h.attempts = 0
}

// refuseForGood refuses writes until the process ends: the file is
// corrupt and could not be replaced (see reset).
func (b *Bolt) refuseForGood(err error) {
	h := &b.health
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forGood = true
	if h.failing.Load() == nil {
		b.metrics.addUnwritable(1)
		h.since = b.now()
	}
	refusal := fmt.Errorf("%w: %w", ErrUnavailable, err)
	h.failing.Store(&refusal)
}

// refusedForGood reports whether refuseForGood was called.
func (h *health) refusedForGood() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.forGood
}

// failingNow reports whether an episode is under way.
func (b *Bolt) failingNow() bool { return b.health.failing.Load() != nil }

// retryDelay is the wait before the next retry in an episode.
func (b *Bolt) retryDelay(base time.Duration) time.Duration {
	h := &b.health
	h.mu.Lock()
	n := h.attempts
	h.mu.Unlock()
	d := max(base, minRetryDelay)
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

// closeHealth takes this store out of the unwritable gauge.
func (b *Bolt) closeHealth() {
	if b.health.failing.Swap(nil) != nil {
		b.metrics.addUnwritable(-1)
	}
}
