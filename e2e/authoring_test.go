package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/hooktest"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// A deny hook limited to an application the IdP's client is not: the
// login goes through (the hook does not apply) and the admin endpoint's
// trace says why it did not run; the metric counts it.
func TestTraceShowsWhyAHookDidNotRun(t *testing.T) {
	dir := t.TempDir()
	admin := e2etest.FreeAddr(t)
	guard := e2etest.WriteHook(t, dir, "guard.js", `exports.onBeforeToken = (event, api) => api.deny("not today");`)
	claims := e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook)
	origin := e2etest.LoadCaddy(t, e2etest.Config{
		Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(), Admin: admin,
		Handler: map[string]any{"hooks": []any{
			map[string]any{"path": guard, "applications": []string{"web-app"}},
			map[string]any{"path": claims},
		}},
	})
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, &proxy{Origin: origin, Dir: dir}, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	body := e2etest.Get(t, "http://"+admin+"/idp-hooks/traces?event=before_token")
	var traces []struct {
		RequestID   string `json:"request_id"`
		Event       string `json:"event"`
		Application string `json:"application"`
		Outcome     string `json:"outcome"`
		Hooks       []struct {
			Hook, Status, Reason string
			Ops                  []string
		} `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(body), &traces); err != nil || len(traces) == 0 {
		t.Fatalf("traces: %v\n%s", err, body)
	}
	tr := traces[0]
	if tr.Application != c.ID || len(tr.RequestID) != 36 || tr.Outcome != "continued" || len(tr.Hooks) != 2 {
		t.Fatalf("trace %+v", tr)
	}
	if h := tr.Hooks[0]; h.Hook != "guard.js" || h.Status != "skipped" || h.Reason != "application" {
		t.Fatalf("guard.js in the trace: %+v", h)
	}
	if h := tr.Hooks[1]; h.Hook != "claims.js" || h.Status != "ran" || len(h.Ops) == 0 || !strings.Contains(strings.Join(h.Ops, " "), `api.idToken.setClaim("tier", …)`) {
		t.Fatalf("claims.js in the trace: %+v", h)
	}
	// No tokens, no secrets, no claim values.
	for _, secret := range []string{f.Token.AccessToken, f.RawID, c.Secret, `"gold"`} {
		if secret != "" && strings.Contains(body, secret) {
			t.Fatalf("the trace holds %q", secret)
		}
	}
	if one := e2etest.Get(t, "http://"+admin+"/idp-hooks/traces?request_id="+tr.RequestID); !strings.Contains(one, tr.RequestID) {
		t.Fatalf("filter by request id: %s", one)
	}
	hooks := e2etest.Get(t, "http://"+admin+"/idp-hooks/hooks")
	if !strings.Contains(hooks, `"guard.js"`) || !strings.Contains(hooks, `"before_token"`) {
		t.Fatalf("hooks view: %s", hooks)
	}
	m := e2etest.Get(t, "http://"+admin+"/metrics")
	if !strings.Contains(m, `caddy_idp_hooks_skipped_total{hook="guard.js",reason="application"}`) {
		t.Fatalf("metrics lack the skip")
	}
}

// Events recorded from a real run are replayed against a new version of
// the hook: the same hook gives no difference, a changed one differs on
// every event it changes.
func TestRecordThenReplay(t *testing.T) {
	dir := t.TempDir()
	claims := e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook)
	rec := filepath.Join(dir, "events.jsonl")
	origin := e2etest.LoadCaddy(t, e2etest.Config{
		Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(),
		Handler: map[string]any{"hooks": []any{map[string]any{"path": claims}}, "record": map[string]any{"path": rec}},
	})
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	px := &proxy{Origin: origin, Dir: dir}
	f, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	e2etest.Userinfo(t, f, f.Token)
	// The recorder writes off the request path; a new config (any) closes
	// the old one's recorder, which flushes it.
	e2etest.LoadCaddy(t, e2etest.Config{Addr: e2etest.FreeAddr(t), Dir: t.TempDir(), Upstream: zitadel.Issuer()})

	var out bytes.Buffer
	sum, err := hooktest.Replay(context.Background(), claims, rec, hooktest.ReplayOptions{}, &out)
	if err != nil || sum.Events < 2 || sum.Differ != 0 || sum.Same != sum.Events {
		t.Fatalf("same hook: %+v %v\n%s", sum, err, out.String())
	}
	changed := strings.Replace(e2etest.ClaimsHook, `setClaim("tier", "gold")`, `setClaim("tier", "platinum")`, 1)
	newHook := e2etest.WriteHook(t, t.TempDir(), "claims.js", changed)
	out.Reset()
	sum, err = hooktest.Replay(context.Background(), newHook, rec, hooktest.ReplayOptions{}, &out)
	if err != nil || sum.Differ != 1 {
		t.Fatalf("changed hook: %+v %v\n%s", sum, err, out.String())
	}
	for _, want := range []string{"before_token", "DIFFERS", `"gold"`, `"platinum"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
