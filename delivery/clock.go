package delivery

import "time"

// Clock is the deliverer's time: real by default; tests pass a settable
// one (internal/fakeclock) to run a day of schedule in milliseconds.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
