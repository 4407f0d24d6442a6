package e2e

import (
	"testing"
	"time"

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
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no after_login delivery; the receiver has %+v", rcv.Log(t))
}
