package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/idphooks/idphooks/internal/metrics"
)

// Metrics are the collectors of every Bolt that is given them. Gauges are
// moved by each store's own changes, so one Metrics can serve several
// files and outlive config reloads: a store opened under one config and
// kept for the next keeps counting in the same collectors, which the glue
// registers again in each new registry (Register).
type Metrics struct {
	entries      *prometheus.GaugeVec
	evictions    *prometheus.CounterVec
	writeErrors  prometheus.Counter
	rejected     prometheus.Counter
	unwritable   prometheus.Gauge
	pendingBytes prometheus.Gauge
	corrupt      prometheus.Counter
}

// NewMetrics creates the collectors and, unless reg is nil, registers
// them with reg, reusing collectors of the same name already there.
// Names are caddy_idp_hooks_state_*; the only label, bucket, names a
// table of the file (swaps, cache).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "caddy", "idp_hooks_state"
	m := &Metrics{
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "entries",
			Help: "Entries in the state tables, expired ones not yet swept included.",
		}, []string{"bucket"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "evictions_total",
			Help: "Live entries removed, oldest first, because a table reached its cap (max_entries).",
		}, []string{"bucket"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "write_errors_total",
			Help: "Failed commits, flushes and sweeps of the state file (full disk, I/O errors).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "rejected_writes_total",
			Help: "Writes refused because the state file cannot be written; each is a 503 on the token path.",
		}),
		unwritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "unwritable",
			Help: "State files that currently cannot be written (0 when all is well).",
		}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "pending_bytes",
			Help: "Bytes of writes accepted and not yet committed to the state file.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "corrupt_files_total",
			Help: "Corrupt state files moved aside at open.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	return m, m.register(reg, true)
}

// Register registers these collectors with reg as well: Caddy gives each
// config its own registry, and a store kept across a reload must show in
// the new one. Collectors already there are kept.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	return m.register(reg, false)
}

func (m *Metrics) register(reg prometheus.Registerer, adopt bool) error {
	var err error
	if m.entries, err = metrics.Register(reg, m.entries, adopt); err != nil {
		return err
	}
	if m.evictions, err = metrics.Register(reg, m.evictions, adopt); err != nil {
		return err
	}
	if m.writeErrors, err = metrics.Register(reg, m.writeErrors, adopt); err != nil {
		return err
	}
	if m.rejected, err = metrics.Register(reg, m.rejected, adopt); err != nil {
		return err
	}
	if m.unwritable, err = metrics.Register(reg, m.unwritable, adopt); err != nil {
		return err
	}
	if m.pendingBytes, err = metrics.Register(reg, m.pendingBytes, adopt); err != nil {
		return err
	}
	m.corrupt, err = metrics.Register(reg, m.corrupt, adopt)
	return err
}

// The methods below do nothing on a nil *Metrics.

func (m *Metrics) addEntries(bucket string, delta float64) {
	if m != nil && delta != 0 {
		m.entries.WithLabelValues(bucket).Add(delta)
	}
}

func (m *Metrics) addEvictions(bucket string, n int) {
	if m != nil && n > 0 {
		m.evictions.WithLabelValues(bucket).Add(float64(n))
	}
}

func (m *Metrics) writeError() {
	if m != nil {
		m.writeErrors.Inc()
	}
}

func (m *Metrics) rejectedWrite() {
	if m != nil {
		m.rejected.Inc()
	}
}

func (m *Metrics) addUnwritable(delta float64) {
	if m != nil {
		m.unwritable.Add(delta)
	}
}

func (m *Metrics) addPending(delta float64) {
	if m != nil && delta != 0 {
		m.pendingBytes.Add(delta)
	}
}

func (m *Metrics) corruptFile() {
	if m != nil {
		m.corrupt.Inc()
	}
}
