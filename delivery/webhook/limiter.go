package webhook

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/idphooks/idphooks/delivery"
)

// Limiter bounds the rate of attempts to one endpoint: a token bucket of
// burst tokens refilled at a steady rate. It is safe for concurrent use.
type Limiter struct {
	l *rate.Limiter
}

// NewLimiter allows perSecond attempts a second on average and burst at
// once; burst < 1 is taken as 1.
func NewLimiter(perSecond float64, burst int) *Limiter {
	return &Limiter{l: rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))}
}

// ParseRate reads a rate as a Caddyfile writes it: "10/s", "600/m",
// "5000/h" (a bare number is per second).
func ParseRate(s string) (float64, error) {
	n, unit, found := strings.Cut(strings.TrimSpace(s), "/")
	v, err := strconv.ParseFloat(n, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("rate %q: want a positive number per s, m or h, e.g. 10/s", s)
	}
	per := time.Second
	if found {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("rate %q: the unit must be s, m or h", s)
		}
	}
	return v / per.Seconds(), nil
}

// Wait blocks until an attempt may go, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error { return l.l.Wait(ctx) }

// Take takes a token if one is there and returns 0; otherwise it takes
// none and returns how long until one is: a worker pool that must not
// block on one endpoint puts the message back for that long.
func (l *Limiter) Take(now time.Time) time.Duration {
	r := l.l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// Limited is s with each Send waiting on l first (up to ctx): the
// simplest wiring, for a pool with a worker per endpoint.
func Limited(s delivery.Sender, l *Limiter) delivery.Sender {
	return limited{s: s, l: l}
}

type limited struct {
	s delivery.Sender
	l *Limiter
}

func (x limited) Send(ctx context.Context, m delivery.Message) delivery.Result {
	if err := x.l.Wait(ctx); err != nil {
		return delivery.Result{Err: fmt.Errorf("waiting for the endpoint's rate limit: %w", err)}
	}
	return x.s.Send(ctx, m)
}
