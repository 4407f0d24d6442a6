// Package fakeclock is a settable clock for tests of time-driven code (key
// rotation, expiring entries, retry schedules).
package fakeclock

import (
	"sync"
	"time"
)

// Clock starts at a fixed instant and moves only when told to. It is safe
// for concurrent use.
type Clock struct {
	mu      sync.Mutex
	t       time.Time
	waiters []waiter
}

// waiter is a channel After handed out, fired once the clock reaches at.
type waiter struct {
	at time.Time
	c  chan time.Time
}

// New returns a clock at 2026-01-01T00:00:00Z.
func New() *Clock { return &Clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.move(c.t.Add(d))
}

// Set moves the clock to t; a t before the clock's time leaves it where it
// is (time does not go back).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.move(t)
	}
}

// After returns a channel that receives the clock's time once the clock
// has moved d past now, as time.After does with real time; at once when d
// is not positive.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.t.Add(d), c: ch})
	return ch
}

// move sets the time and fires the waiters it reached; c.mu is held.
func (c *Clock) move(t time.Time) {
	c.t = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.c <- t
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}
