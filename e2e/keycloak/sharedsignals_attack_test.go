package keycloak

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/setreceiver"
	"github.com/idphooks/idphooks/internal/testidp"
)

// What Keycloak does with end-session requests an attacker can make, and
// which of them reach a Shared Signals receiver as session-revoked: only
// the logouts Keycloak carries out with an ID token of the IdP's as the
// hint, each session once. Keycloak refuses an access token as the hint,
// a hint of another client than client_id and an unregistered
// post_logout_redirect_uri (answers of 400); it redirects back to
// every replay of a hint, the session long ended, from any browser, by
// GET or POST: without idphooks remembering the logout, each replay was
// a new session-revoked.
func TestSharedSignalsAttackKeycloakLogouts(t *testing.T) {
	rcv := setreceiver.Start(t, "", "")
	handler := map[string]any{"shared_signals": []any{map[string]any{
		"url": rcv.URL + "/ssf", "allow_hosts": []string{"127.0.0.1"}, "retry_schedule": []int64{0},
	}}}
	px := startProxy(t, handler, fixedHostname)
	rcv.JWKSURL, rcv.Issuer = px.Origin+"/.well-known/idphooks/jwks.json", px.Issuer()
	disc := e2etest.Discovery(t, px.Issuer())
	end, _ := disc["end_session_endpoint"].(string)

	c, _ := kc.Client(testidp.KeycloakWebClientID)
	other, _ := kc.Client(testidp.KeycloakATClientID)
	alice, err := codeFlow(t, px, px.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := codeFlow(t, px, px.Issuer(), c, testidp.SecondUser.Username, testidp.SecondUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	sets := func() int { return rcv.Hits("/ssf") }
	wait := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); sets() < n && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		}
		time.Sleep(300 * time.Millisecond)
	}
	logout := func(name string, browser *http.Client, method string, q url.Values, wantSETs int) {
		t.Helper()
		hc := *browser
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		var req *http.Request
		if method == http.MethodGet {
			req, _ = http.NewRequest(method, end+"?"+q.Encode(), nil)
		} else {
			req, _ = http.NewRequest(method, end, strings.NewReader(q.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		wait(wantSETs)
		t.Logf("%s: Keycloak %d %s; SETs so far %d", name, resp.StatusCode, resp.Header.Get("Location"), sets())
		if sets() != wantSETs {
			t.Errorf("%s: %d SETs, want %d: %+v", name, sets(), wantSETs, rcv.Log())
		}
	}
	bye := func(hint string, extra ...string) url.Values {
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {logoutURI}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return q
	}
	// Keycloak refuses an access token as the hint (typ Bearer), and a
	// hint of another client than the client_id named.
	logout("access token as hint", alice.Client, http.MethodGet, bye(alice.Token.AccessToken), 0)
	logout("hint for another client", alice.Client, http.MethodGet, bye(alice.RawID, "client_id", other.ID), 0)
	// A post_logout_redirect_uri the client did not register: Keycloak
	// ends nothing and shows its error page.
	bad := bye(alice.RawID)
	bad.Set("post_logout_redirect_uri", "https://attacker.example/")
	logout("unregistered redirect", alice.Client, http.MethodGet, bad, 0)
	// Alice's own logout: one SET for her session.
	logout("alice's logout", alice.Client, http.MethodGet, bye(alice.RawID), 1)
	// Her hint again, from a browser with no session, then by POST.
	logout("alice's hint replayed", &http.Client{}, http.MethodGet, bye(alice.RawID), 1)
	logout("alice's hint replayed by POST", &http.Client{}, http.MethodPost, bye(alice.RawID), 1)
	// Alice's hint from Bob's browser: Keycloak answers as ever, and
	// Alice's session has been told of.
	logout("alice's hint in bob's browser", bob.Client, http.MethodGet, bye(alice.RawID), 1)
	// Bob's own logout is his session's: told.
	logout("bob's logout", bob.Client, http.MethodGet, bye(bob.RawID), 2)
	for _, r := range rcv.Log() {
		t.Logf("SET %v", r.Claims)
	}
}

// Keycloak's LogoutRequest to an SP at an IdP-initiated logout raises
// one session-revoked for the NameID the SP knows, under the SAML IdP's
// entity id, and the session index: it is issued just now, as idphooks
// requires. It carries no NotOnOrAfter (nothing but its IssueInstant
// dates it), which is why idphooks does not take an old one an answer
// carries for this logout.
func TestSharedSignalsKeycloakSAMLLogout(t *testing.T) {
	rcv := setreceiver.Start(t, "", "")
	px := samlProxy(t, map[string]any{"shared_signals": []any{map[string]any{
		"url": rcv.URL + "/ssf", "allow_hosts": []string{"127.0.0.1"}, "retry_schedule": []int64{0},
	}}})
	rcv.JWKSURL, rcv.Issuer = px.Origin+"/.well-known/idphooks/jwks.json", px.Issuer()
	sp := samlSP(t, px, "ssf-slo", testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: testidp.LogoutRedirect})
	browser := samlBrowser(t)
	u := testidp.TestUser
	res, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := sp.BrowseLogout(e2etest.Ctx(t), browser, px.Issuer()+"/protocol/openid-connect/logout")
	if err != nil || len(reqs) != 1 {
		t.Fatalf("LogoutRequests %v, %v", reqs, err)
	}
	if reqs[0].NotOnOrAfter != nil {
		t.Logf("Keycloak's LogoutRequest has a NotOnOrAfter now: %v", reqs[0].NotOnOrAfter)
	}
	for deadline := time.Now().Add(10 * time.Second); rcv.Hits("/ssf") < 1 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	time.Sleep(300 * time.Millisecond)
	log := rcv.Log()
	if len(log) != 1 {
		t.Fatalf("%d SETs, want 1: %+v", len(log), log)
	}
	subID, _ := log[0].Claims["sub_id"].(map[string]any)
	user, _ := subID["user"].(map[string]any)
	session, _ := subID["session"].(map[string]any)
	if user["iss"] != px.Issuer() || user["sub"] != res.NameID || session["id"] != res.SessionIndex {
		t.Fatalf("sub_id %v; want %s, %s, %s", subID, px.Issuer(), res.NameID, res.SessionIndex)
	}
}
