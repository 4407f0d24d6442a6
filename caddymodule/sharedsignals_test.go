package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/delivery/webhook"
)

func TestProvisionSharedSignals(t *testing.T) {
	ctx, _ := provisionContext(t)
	t.Setenv("IDPHOOKS_TEST_SSF_TOKEN", "tok-s3cr3t")
	t.Setenv("IDPHOOKS_TEST_UNSET_SSF_TOKEN", "")
	const up = "http://127.0.0.1:9/realms/acme"
	for _, tc := range []struct {
		name     string
		upstream string
		s        SharedSignalsConfig
		want     string
	}{
		{"defaults", up, SharedSignalsConfig{URL: "https://rp.example/ssf"}, ""},
		{"everything", up, SharedSignalsConfig{URL: "https://rp.example/ssf", Events: []string{"after_logout"}, Audience: "urn:rp",
			Authorization: "Bearer {env.IDPHOOKS_TEST_SSF_TOKEN}", Subject: "email", Applications: []string{"web"}}, ""},
		{"no upstream", "", SharedSignalsConfig{URL: "https://rp.example/ssf"}, "needs an OIDC upstream"},
		{"unset authorization", up, SharedSignalsConfig{URL: "https://rp.example/ssf", Authorization: "Bearer {env.IDPHOOKS_TEST_UNSET_SSF_TOKEN}"}, "is not set"},
		{"event without meaning", up, SharedSignalsConfig{URL: "https://rp.example/ssf", Events: []string{"before_token"}}, "no Shared Signals"},
		{"plain http", up, SharedSignalsConfig{URL: "http://rp.example/ssf"}, "plain http://"},
		{"user information", up, SharedSignalsConfig{URL: "https://u:pw-in-url@rp.example/ssf"}, "holds user information"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := &Handler{Upstream: tc.upstream, StatePath: filepath.Join(dir, "state.db"), SharedSignals: []SharedSignalsConfig{tc.s}}
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, "queue.db")); err != nil {
					t.Fatalf("no queue beside the state file: %v", err)
				}
				if !h.deliverer.Has(tc.s.URL) {
					t.Fatalf("no receiver %s", tc.s.URL)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "tok-s3cr3t") || strings.Contains(err.Error(), "pw-in-url") {
				t.Fatal("the error shows a secret")
			}
		})
	}
	// A webhook and a Shared Signals receiver of one URL are two
	// receivers.
	dir := t.TempDir()
	h := &Handler{Upstream: up, StatePath: filepath.Join(dir, "state.db"),
		Webhooks:      []WebhookConfig{{URL: "https://rp.example/in", Events: []string{"after_logout"}, Secrets: []string{webhook.GenerateSecret()}}},
		SharedSignals: []SharedSignalsConfig{{URL: "https://rp.example/in"}}}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if !h.deliverer.Has("https://rp.example/in") || !h.deliverer.Has("https://rp.example/in#2") {
		t.Fatal("the two receivers of one URL are not both there")
	}
}

// The audit names a Shared Signals receiver's settings, its
// authorization value by presence only (it may be the token itself).
func TestSharedSignalsAudit(t *testing.T) {
	h := &Handler{SharedSignals: []SharedSignalsConfig{{URL: "https://rp.example/ssf", Authorization: "Bearer literal-token-1", Subject: "email"}}}
	snap := h.snapshot()
	v := snap["shared_signals https://rp.example/ssf"]
	b, _ := json.Marshal(snap)
	if v == nil || v["authorization"] != true || v["subject"] != "email" || strings.Contains(string(b), "literal-token-1") {
		t.Fatalf("audit %s", b)
	}
}
