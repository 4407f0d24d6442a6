package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A store kept across a config reload keeps counting in the same
// collectors, and they show in each config's registry.
func TestMetricsFollowTheStoreAcrossRegistries(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	for _, reg := range []*prometheus.Registry{first, first, second} {
		if err := m.Register(reg); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	b, err := OpenBolt(filepath.Join(t.TempDir(), "state.db"), BoltOptions{SweepInterval: -1, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Bucket("swaps").Set(context.Background(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for i, reg := range []*prometheus.Registry{first, second} {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, f := range families {
			if f.GetName() == "caddy_idp_hooks_state_entries" {
				found = len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge().GetValue() == 1 &&
					f.GetMetric()[0].GetLabel()[0].GetValue() == "swaps"
			}
		}
		if !found {
			t.Errorf("registry %d: no caddy_idp_hooks_state_entries{bucket=\"swaps\"} 1 in %v", i, families)
		}
	}

	// Another set of collectors under the same names is refused, not
	// silently left unregistered.
	other, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Register(first); err == nil {
		t.Error("a second set of collectors registered under the same names")
	}
	// NewMetrics with a registry adopts what is there, as sandbox's does.
	adopted, err := NewMetrics(first)
	if err != nil || adopted.entries != m.entries {
		t.Errorf("NewMetrics on a registry with the collectors: %v", err)
	}
}
