package delivery

import (
	"math/rand/v2"
	"time"
)

// DefaultSchedule is the delay before each attempt, counted from the one
// before (the first from the enqueue): 8 attempts over about 28 hours,
// of the order of Svix's. A message whose last attempt fails is a dead
// letter.
var DefaultSchedule = []time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// DefaultJitter spreads each delay over ±20 %, so that messages that
// failed together (a receiver's outage) do not all come back together.
const DefaultJitter = 0.2

// backoff is the delay before attempt number attempt+1 (attempt counts
// those made), jittered, and false when the schedule has no more.
func backoff(schedule []time.Duration, attempt int, jitter float64) (time.Duration, bool) {
	if attempt >= len(schedule) {
		return 0, false
	}
	d := schedule[attempt]
	if jitter > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 - jitter + 2*jitter*rand.Float64()))
	}
	return d, true
}
