package events

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/internal/metrics"
)

// SkipReason says why a hook that handles an event did not run on one
// occurrence of it. A deny hook that silently never runs is an open door,
// so every skip is counted, traced and logged (once per hook, application
// and reason).
type SkipReason string

const (
	// SkipApplication: the event's application is not in the hook's
	// applications.
	SkipApplication SkipReason = "application"
	// SkipDenied: an earlier sync hook denied; the flow had ended.
	SkipDenied SkipReason = "denied"
	// SkipBudget: the event's budget was spent before the hook's turn.
	SkipBudget SkipReason = "budget"
	// SkipOverloaded: an async run was dropped, too many were in flight.
	SkipOverloaded SkipReason = "overloaded"
)

// Metrics count what the dispatcher decided. Labels stay low-cardinality:
// the hook name comes from config, the reason from a fixed set; the
// application, which a client chooses, is only in logs and traces.
type Metrics struct {
	skipped *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered). Collectors already registered by an earlier config are
// reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "idp_hooks", Name: "skipped_total",
		Help: "Occurrences of an event a hook handles on which it did not run, by reason (application, denied, budget, overloaded).",
	}, []string{"hook", "reason"})}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.skipped, err = metrics.Register(reg, m.skipped, true); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) skip(hook string, reason SkipReason) {
	if m != nil {
		m.skipped.WithLabelValues(hook, string(reason)).Inc()
	}
}

// maxSkipLines bounds the hook/application/reason triples logged: the
// application comes from the request, so a client inventing client ids
// must not grow the set or flood the log.
const maxSkipLines = 4096

// skipLog logs the first skip of each hook, application and reason.
type skipLog struct {
	mu   sync.Mutex
	seen map[skipKey]bool
	full bool
}

type skipKey struct {
	hook, app, event string
	reason           SkipReason
}

func (s *skipLog) first(k skipKey, log *zap.Logger) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[k] {
		return false
	}
	if len(s.seen) >= maxSkipLines {
		if !s.full {
			s.full = true
			log.Warn("more hook skips than are logged one by one; the skipped_total metric and the trace still count them",
				zap.Int("logged", maxSkipLines))
		}
		return false
	}
	if s.seen == nil {
		s.seen = make(map[skipKey]bool)
	}
	s.seen[k] = true
	return true
}

// skipMessage is the log line of each reason: what the author would ask.
var skipMessage = map[SkipReason]string{
	SkipApplication: "hook not run: the application is not in its applications list (logged once per hook and application)",
	SkipDenied:      "hook not run: an earlier hook denied (logged once per hook and application)",
	SkipBudget:      "hook not run: the event's budget was spent before its turn (logged once per hook and application)",
	SkipOverloaded:  "async hook not run: too many runs in flight (logged once per hook and application)",
}
