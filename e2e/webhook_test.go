package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/idphooks/idphooks/delivery/webhook"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
	"github.com/idphooks/idphooks/internal/whverifier"
)

// A real Caddy in front of the zitadel OP: after_login reaches a notify
// webhook through the durable queue, signed so that the npm
// standardwebhooks library verifies it; an enrich webhook answering in
// Okta's command format adds a claim to the real ID token.
func TestWebhooksThroughCaddy(t *testing.T) {
	secret := webhook.GenerateSecret()
	rcv := whverifier.Start(t, []string{secret}, nil, map[string]whverifier.Answer{
		"/enrich": {Body: map[string]any{"commands": []any{map[string]any{
			"type":  "com.okta.identity.patch",
			"value": []any{map[string]any{"op": "add", "path": "/claims/crm_tier", "value": "platinum"}},
		}}}},
	})
	dir := t.TempDir()
	px := &proxy{Dir: dir}
	px.Origin = e2etest.LoadCaddy(t, e2etest.Config{
		Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(),
		Handler: map[string]any{"webhooks": []any{
			map[string]any{"url": rcv.URL + "/events", "events": []string{"after_login"}, "secrets": []string{secret},
				"allow_hosts": []string{"127.0.0.1"}},
			map[string]any{"url": rcv.URL + "/enrich", "events": []string{"before_token"}, "mode": "enrich", "secrets": []string{secret},
				"allow_hosts": []string{"127.0.0.1"}, "timeout": int64(5 * time.Second)},
		}},
	})
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := f.IDToken.Claims(&claims); err != nil || claims["crm_tier"] != "platinum" {
		t.Fatalf("ID token claims %v (%v): the enrich webhook's claim is missing", claims, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range rcv.Log(t) {
			if d.Path != "/events" {
				continue
			}
			data, _ := d.Payload["data"].(map[string]any)
			user, _ := data["user"].(map[string]any)
			if d.Payload["type"] != "after_login" || data["application"] != c.ID || user["sub"] == nil || len(d.Verified) != 1 {
				t.Fatalf("delivery %+v", d)
			}
			// The body is what the shipped schema says.
			sch, err := jsonschema.NewCompiler().Compile("../examples/webhooks/after_login.schema.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(d.Payload); err != nil {
				t.Fatalf("the delivery does not validate against after_login.schema.json: %v", err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no after_login delivery; the receiver has %+v", rcv.Log(t))
}

// The admin endpoint's view of delivery: receivers' health, a test event,
// a dead letter listed and replayed.
func TestWebhookAdminAPI(t *testing.T) {
	secret := webhook.GenerateSecret()
	rcv := whverifier.Start(t, []string{secret}, nil, map[string]whverifier.Answer{"/down": {Status: 500, Body: "down"}})
	dir := t.TempDir()
	admin := e2etest.FreeAddr(t)
	e2etest.LoadCaddy(t, e2etest.Config{
		Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(), Admin: admin,
		Handler: map[string]any{"webhooks": []any{
			map[string]any{"url": rcv.URL + "/events", "events": []string{"after_login"}, "secrets": []string{secret}, "allow_hosts": []string{"127.0.0.1"}},
			map[string]any{"url": rcv.URL + "/down", "events": []string{"after_login"}, "secrets": []string{secret}, "allow_hosts": []string{"127.0.0.1"},
				"retry_schedule": []int64{0}},
		}},
	})
	base := "http://" + admin + "/idp-hooks"
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := post("/send-test", `{"receiver":"`+rcv.URL+`/events"}`); code != http.StatusAccepted || m["id"] == nil {
		t.Fatalf("send-test: %d %v", code, m)
	}
	if code, _ := post("/send-test", `{"receiver":"`+rcv.URL+`/down"}`); code != http.StatusAccepted {
		t.Fatalf("send-test to the failing receiver: %d", code)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if ok() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	waitFor("the test event at the receiver", func() bool {
		for _, d := range rcv.Log(t) {
			if d.Path == "/events" && d.Payload["type"] == "idphooks.test" && len(d.Verified) == 1 {
				return true
			}
		}
		return false
	})
	// The failing receiver's one attempt is spent: a dead letter.
	var dead struct {
		Entries []struct {
			ID, State  string
			LastError  string `json:"last_error"`
			LastStatus int    `json:"last_status"`
		} `json:"entries"`
	}
	waitFor("the dead letter", func() bool {
		body := e2etest.Get(t, base+"/deliveries?state=dead&receiver="+url.QueryEscape(rcv.URL+"/down"))
		return json.Unmarshal([]byte(body), &dead) == nil && len(dead.Entries) == 1
	})
	if e := dead.Entries[0]; e.LastStatus != 500 || e.LastError == "" {
		t.Fatalf("dead letter %+v", e)
	}
	var health []struct {
		Name                string
		State               string
		ConsecutiveFailures int
		Dead                int
	}
	if err := json.Unmarshal([]byte(e2etest.Get(t, base+"/receivers")), &health); err != nil || len(health) < 2 {
		t.Fatalf("receivers: %v %v", health, err)
	}
	m := e2etest.Get(t, "http://"+admin+"/metrics")
	for _, want := range []string{`idphooks_delivery_dead{receiver="` + rcv.URL + `/down"} 1`,
		`idphooks_delivery_receiver_state{receiver="` + rcv.URL + `/events",state="active"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if code, m := post("/replay", `{"receiver":"`+rcv.URL+`/down"}`); code != 200 || m["replayed"] != float64(1) {
		t.Fatalf("replay: %d %v", code, m)
	}
	if code, _ := post("/replay", `{}`); code != http.StatusBadRequest {
		t.Fatalf("an empty replay: %d", code)
	}
}

// Each config load records what changed in hooks and webhooks, never a
// secret; the admin endpoint lists it.
func TestAuditOfChanges(t *testing.T) {
	secret := webhook.GenerateSecret()
	dir := t.TempDir()
	admin := e2etest.FreeAddr(t)
	hook := e2etest.WriteHook(t, dir, "claims.js", `exports.onBeforeToken = (e, api) => {};`)
	cfg := func(webhooks []any) e2etest.Config {
		return e2etest.Config{Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: zitadel.Issuer(), Admin: admin,
			Handler: map[string]any{"hooks": []any{map[string]any{"path": hook, "secrets": map[string]string{"CRM_TOKEN": "s3cr3t-token"}}},
				"webhooks": webhooks}}
	}
	wh := []any{map[string]any{"url": "https://crm.example/events", "events": []string{"after_login"}, "secrets": []string{secret}}}
	e2etest.LoadCaddy(t, cfg(wh))
	type record struct {
		Changes []struct {
			Kind, Name, Change string
			Fields             []string
		}
	}
	waitAudit := func(n int) ([]record, string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			body := e2etest.Get(t, "http://"+admin+"/idp-hooks/audit")
			var recs []record
			if json.Unmarshal([]byte(body), &recs) == nil && len(recs) >= n {
				return recs, body
			}
		}
		t.Fatalf("fewer than %d audit records", n)
		return nil, ""
	}
	recs, _ := waitAudit(1)
	if len(recs[0].Changes) != 2 || recs[0].Changes[0].Change != "added" || recs[0].Changes[1].Change != "added" {
		t.Fatalf("first load: %+v", recs[0])
	}
	// The hook's file changes and the webhook goes.
	if err := os.WriteFile(hook, []byte(`exports.onBeforeToken = (e, api) => { api.idToken.setClaim("x", 1) };`), 0o600); err != nil {
		t.Fatal(err)
	}
	e2etest.LoadCaddy(t, cfg(nil))
	recs, body := waitAudit(2)
	got := map[string]string{}
	for _, c := range recs[0].Changes {
		got[c.Kind+" "+c.Name] = c.Change + " " + strings.Join(c.Fields, ",")
	}
	if got["hook "+hook] != "changed file_sha256" || got["webhook https://crm.example/events"] != "removed " {
		t.Fatalf("second load: %v", got)
	}
	if strings.Contains(body, secret) || strings.Contains(body, "s3cr3t-token") {
		t.Fatal("the audit holds a secret")
	}
}
