package sandbox

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idphooks/idphooks/internal/metrics"
)

// Metrics count hook runs. Labels stay low-cardinality: the hook name
// comes from config, the error kind from a fixed set.
type Metrics struct {
	invocations *prometheus.CounterVec
	errors      *prometheus.CounterVec
	timeouts    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them with reg. Caddy
// registers again on every config reload, so collectors already there are
// reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "caddy", "idp_hooks"
	m := &Metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "invocations_total",
			Help: "Hook runs started.",
		}, []string{"hook"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Hook runs that failed, by kind (thrown, timeout, limit, unsettled).",
		}, []string{"hook", "kind"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "timeouts_total",
			Help: "Hook runs stopped at their deadline.",
		}, []string{"hook"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "duration_seconds",
			Help:    "Wall time of hook runs.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"hook"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.invocations, err = metrics.Register(reg, m.invocations, true); err != nil {
		return nil, err
	}
	if m.errors, err = metrics.Register(reg, m.errors, true); err != nil {
		return nil, err
	}
	if m.timeouts, err = metrics.Register(reg, m.timeouts, true); err != nil {
		return nil, err
	}
	if m.duration, err = metrics.Register(reg, m.duration, true); err != nil {
		return nil, err
	}
	return m, nil
}

// observe records one run; a nil *Metrics records nothing.
func (m *Metrics) observe(hook string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.invocations.WithLabelValues(hook).Inc()
	m.duration.WithLabelValues(hook).Observe(d.Seconds())
	if err == nil {
		return
	}
	m.errors.WithLabelValues(hook, Kind(err)).Inc()
	if errors.Is(err, ErrTimeout) {
		m.timeouts.WithLabelValues(hook).Inc()
	}
}
