package caddymodule

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/metrics"
)

// deliveryCollector reports every running deliverer's receivers when
// scraped: queued and dead messages, state, consecutive failures. It is
// one for the process (registered again in each config's registry): the
// deliverers it reads are those of the configs loaded now.
type deliveryCollector struct {
	pending, dead, failures, state, oldest *prometheus.Desc
}

var deliveryMetrics = &deliveryCollector{
	pending: prometheus.NewDesc("idphooks_delivery_pending", "Messages queued for a receiver (webhook or async hook).",
		[]string{"receiver"}, nil),
	dead: prometheus.NewDesc("idphooks_delivery_dead", "Dead letters of a receiver (every attempt failed).",
		[]string{"receiver"}, nil),
	failures: prometheus.NewDesc("idphooks_delivery_consecutive_failures", "Failed attempts in a row to a receiver.",
		[]string{"receiver"}, nil),
	state: prometheus.NewDesc("idphooks_delivery_receiver_state", "1 for a receiver's current state (active, paused, disabled, unconfigured).",
		[]string{"receiver", "state"}, nil),
	oldest: prometheus.NewDesc("idphooks_delivery_oldest_pending_seconds", "Age of a receiver's oldest queued message.",
		[]string{"receiver"}, nil),
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.dead, c.failures, c.state, c.oldest} {
		ch <- d
	}
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for _, h := range deliverers() {
		hs, err := h.deliverer.Health(ctx)
		if err != nil {
			continue
		}
		for _, r := range hs {
			if seen[r.Name] {
				continue // a receiver of a config being replaced, also in the new one
			}
			seen[r.Name] = true
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(r.Pending), r.Name)
			ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(r.Dead), r.Name)
			ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(r.ConsecutiveFailures), r.Name)
			for _, s := range []delivery.ReceiverState{delivery.Active, delivery.Paused, delivery.Disabled, delivery.Unconfigured} {
				v := 0.0
				if r.State == s {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, r.Name, string(s))
			}
			age := 0.0
			if !r.OldestPending.IsZero() {
				age = time.Since(r.OldestPending).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age, r.Name)
		}
	}
}

// registerDeliveryMetrics adds the collector to the config's registry.
func registerDeliveryMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	_, err := metrics.Register(reg, deliveryMetrics, false)
	return err
}
