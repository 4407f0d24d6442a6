package e2e

import (
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// Hook runs show on Caddy's metrics endpoint, labelled by hook.
func TestHookMetricsOnCaddysEndpoint(t *testing.T) {
	dir := t.TempDir()
	admin := e2etest.FreeAddr(t)
	origin := e2etest.LoadCaddy(t, e2etest.Config{
		Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(), Admin: admin,
		Handler: e2etest.Hooks(e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook)),
	})
	c, _ := zitadel.Client(testidp.ZitadelWebClientID)
	if _, err := codeFlow(t, &proxy{Origin: origin, Dir: dir}, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password); err != nil {
		t.Fatal(err)
	}
	m := e2etest.Get(t, "http://"+admin+"/metrics")
	for _, want := range []string{
		`caddy_idp_hooks_invocations_total{hook="claims.js"}`,
		`caddy_idp_hooks_duration_seconds_count{hook="claims.js"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// The state store's collectors show on the metrics endpoint, also after a
// config reload: the store outlives the config (and the registry) it was
// opened under.
func TestStateMetricsSurviveAReload(t *testing.T) {
	dir := t.TempDir()
	admin := e2etest.FreeAddr(t)
	addr := e2etest.FreeAddr(t)
	hooks := e2etest.Hooks(e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook))
	load := func() string {
		return e2etest.LoadCaddy(t, e2etest.Config{Addr: addr, Dir: dir, Upstream: zitadel.Issuer(), Admin: admin, Handler: hooks})
	}
	origin := load()
	c, _ := zitadel.Client(testidp.ZitadelWebClientID)
	if _, err := codeFlow(t, &proxy{Origin: origin, Dir: dir}, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password); err != nil {
		t.Fatal(err)
	}
	for round, reload := range []bool{false, true} {
		if reload {
			load()
		}
		m := e2etest.Get(t, "http://"+admin+"/metrics")
		for _, want := range []string{`caddy_idp_hooks_state_entries{bucket="swaps"}`, `caddy_idp_hooks_state_unwritable`} {
			if !strings.Contains(m, want) {
				t.Errorf("round %d (reload %v): metrics lack %s", round, reload, want)
			}
		}
	}
}
