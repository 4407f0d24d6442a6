package events

import (
	"strings"
	"sync"
	"time"

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

// maxSkipLines bounds the hook/application/reason triples remembered as
// logged: the application comes from the request, so a client inventing
// client ids must not grow the set. When it is full it starts afresh (a
// skip may then be logged once more), so a new application's skip is
// never hidden for good.
const maxSkipLines = 4096

// maxAppKey bounds the application part of a key.
const maxAppKey = 256

// repeatEvery is how often a skip that denies or drops work (budget,
// overloaded) is logged again while it goes on: those are incidents, not
// configuration, and must not go quiet after the first line.
const repeatEvery = time.Minute

// skipLog decides which skips are logged.
type skipLog struct {
	mu   sync.Mutex
	seen map[skipKey]time.Time
}

type skipKey struct {
	hook, app, event string
	reason           SkipReason
}

// first reports whether this skip is to be logged now: an application skip
// once per hook, application and event; an incident (budget, overloaded)
// once per hook and event every repeatEvery.
func (s *skipLog) first(k skipKey, log *zap.Logger) bool {
	incident := k.reason == SkipBudget || k.reason == SkipOverloaded
	if incident {
		k.app = ""
	} else if len(k.app) > maxAppKey {
		k.app = k.app[:maxAppKey]
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.seen[k]; ok && (!incident || now.Sub(at) < repeatEvery) {
		return false
	}
	if s.seen == nil || len(s.seen) >= maxSkipLines {
		if s.seen != nil {
			log.Warn("more distinct hook skips than are remembered; starting afresh, some may be logged again",
				zap.Int("remembered", maxSkipLines))
		}
		s.seen = make(map[skipKey]time.Time)
	}
	s.seen[cloneKey(k)] = now
	return true
}

// skipMessage is the log line of each reason: what the author would ask.
var skipMessage = map[SkipReason]string{
	SkipApplication: "hook not run: the application is not in its applications list (logged once per hook and application)",
	SkipDenied:      "hook not run: an earlier hook denied (logged once per hook and application)",
	SkipBudget:      "hook not run: the event's budget was spent before its turn (logged at most once a minute per hook)",
	SkipOverloaded:  "async hook not run: too many runs in flight (logged at most once a minute per hook)",
}

// cloneKey copies the key's strings: the application may be a slice of a
// large request value, which the map must not keep alive.
func cloneKey(k skipKey) skipKey {
	k.app = strings.Clone(k.app)
	return k
}
