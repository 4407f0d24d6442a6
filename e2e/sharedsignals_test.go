package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery/secevent"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/setreceiver"
	"github.com/idphooks/idphooks/internal/testidp"
)

// A real Caddy in front of the zitadel OP: a relying party logs in (its
// ID token rewritten by a hook) and logs out through the end-session
// endpoint with that token as id_token_hint; the Shared Signals receiver
// gets a session-revoked SET for that user and session, which it
// verifies with go-jose against the JWKS idphooks publishes. Its first
// push is answered 503 and retried with the same jti.
func TestSharedSignalsSessionRevokedAtLogout(t *testing.T) {
	op, err := testidp.StartZitadel(testidp.ZitadelOptions{RedirectURIs: []string{redirectURI},
		PostLogoutRedirectURIs: []string{logoutURI}, SessionIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close() })
	addr, admin := e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	jwksURL := "http://" + addr + "/.well-known/idphooks/jwks.json"
	rcv := setreceiver.Start(t, jwksURL, op.Issuer())
	rcv.Answer("/ssf", setreceiver.Answer{Status: 503}, setreceiver.Answer{Status: 202})
	t.Setenv("IDPHOOKS_E2E_SSF_TOKEN", "ssf-token-1")
	handler := e2etest.Hooks(e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook))
	handler["shared_signals"] = []any{map[string]any{
		"url": rcv.URL + "/ssf", "allow_hosts": []string{"127.0.0.1"},
		"authorization":  "Bearer {env.IDPHOOKS_E2E_SSF_TOKEN}",
		"retry_schedule": []int64{0, int64(time.Second)},
	}}
	dir := t.TempDir()
	px := &proxy{Dir: dir, Origin: e2etest.LoadCaddy(t, e2etest.Config{Addr: addr, Dir: dir, Upstream: op.Issuer(), Handler: handler, Admin: admin})}
	disc := e2etest.Discovery(t, px.Origin)
	if disc["jwks_uri"] != jwksURL {
		t.Fatalf("jwks_uri %v, want %s", disc["jwks_uri"], jwksURL)
	}
	// A receiver that discovers the transmitter (SSF §7.2: the
	// well-known path before the issuer's path) finds the SETs' issuer
	// and the key set that signs them.
	iu, _ := url.Parse(op.Issuer())
	meta := e2etest.GetJSON(t, px.Origin+"/.well-known/ssf-configuration"+strings.TrimRight(iu.Path, "/"))
	if meta["issuer"] != op.Issuer() || meta["jwks_uri"] != jwksURL {
		t.Fatalf("SSF transmitter metadata %v", meta)
	}

	c, _ := op.Client(testidp.ZitadelWebClientID)
	f, err := codeFlow(t, px, op.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	claims := e2etest.ClaimsOf(t, f.IDToken)
	sid, _ := claims["sid"].(string)
	if claims["tier"] != "gold" || sid == "" {
		t.Fatalf("ID token claims %v: want the hook's tier and a sid", claims)
	}
	if len(rcv.Log()) != 0 {
		t.Fatalf("a SET before the logout: %+v", rcv.Log())
	}
	e2etest.Logout(t, f, disc, logoutURI)

	var got []setreceiver.Received
	for deadline := time.Now().Add(20 * time.Second); len(got) < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pushes %+v; want a 503'd one and its retry", got)
		}
		got = rcv.Log()
	}
	first, set := got[0], got[1]
	if first.Claims["jti"] != set.Claims["jti"] || !strings.HasPrefix(set.Claims["jti"].(string), "msg_") {
		t.Fatalf("jti %v then %v: a retry carries the same", first.Claims["jti"], set.Claims["jti"])
	}
	if set.Header["typ"] != "secevent+jwt" || set.Authorization != "Bearer ssf-token-1" {
		t.Fatalf("header %v, authorization %q", set.Header, set.Authorization)
	}
	if set.Claims["iss"] != op.Issuer() || set.Claims["aud"] != rcv.URL {
		t.Fatalf("iss %v aud %v", set.Claims["iss"], set.Claims["aud"])
	}
	subID, _ := set.Claims["sub_id"].(map[string]any)
	user, _ := subID["user"].(map[string]any)
	session, _ := subID["session"].(map[string]any)
	if subID["format"] != "complex" || user["format"] != "iss_sub" || user["iss"] != op.Issuer() || user["sub"] != testidp.TestUser.Subject ||
		session["format"] != "opaque" || session["id"] != sid {
		t.Fatalf("sub_id %v; want user %s and session %s", subID, testidp.TestUser.Subject, sid)
	}
	evs, _ := set.Claims["events"].(map[string]any)
	revoked, ok := evs[secevent.SessionRevoked].(map[string]any)
	if !ok || revoked["initiating_entity"] != "user" || revoked["event_timestamp"] == nil {
		t.Fatalf("events %v", evs)
	}
	if b, _ := json.Marshal(set.Claims); strings.Contains(string(b), "eyJ") || strings.Contains(string(b), testidp.TestUser.Password) {
		t.Fatalf("a token or the password in the SET: %s", b)
	}
	// The admin API lists it with the webhooks, by URL.
	var health []struct{ Name, State string }
	if err := json.Unmarshal([]byte(e2etest.Get(t, "http://"+admin+"/idp-hooks/receivers")), &health); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range health {
		found = found || h.Name == rcv.URL+"/ssf" && h.State == "active"
	}
	if !found {
		t.Fatalf("receivers %+v", health)
	}
}
