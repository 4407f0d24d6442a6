package oidc

// Attacks on after_logout, the event Shared Signals turns into a
// session-revoked SET: end-session requests that a real IdP carries out
// while idphooks would tell receivers of a logout nobody made.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/internal/testidp"
)

const ssfLogoutURI = "https://rp.example/bye"

// zitadelLogouts starts the zitadel OP, ending sessions with sids and
// redirecting to ssfLogoutURI, behind a logout harness.
func zitadelLogouts(t *testing.T) (*testidp.Provider, *harness, chan *events.Event) {
	t.Helper()
	p, err := testidp.StartZitadel(testidp.ZitadelOptions{PostLogoutRedirectURIs: []string{ssfLogoutURI}, SessionIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	h, got := logoutHarnessFor(t, p.Issuer())
	return p, h, got
}

// zitadelIDToken is a new login's ID token from the web client.
func zitadelIDToken(t *testing.T, p *testidp.Provider, h *harness) string {
	t.Helper()
	c, _ := p.Client(testidp.ZitadelWebClientID)
	code, verifier := login(t, p, c.ID, "openid")
	return exchange(t, h, p, c, "/oauth/token", code, verifier)["id_token"].(string)
}

// logoutHarnessFor is logoutHarness in front of a real IdP.
func logoutHarnessFor(t *testing.T, upstream string) (*harness, chan *events.Event) {
	t.Helper()
	return logoutHarnessWith(t, &testIdP{srv: &httptest.Server{URL: upstream}}, "exports.onAfterLogout = async (event) => {};")
}

// The zitadel OP ends the user's sessions on a JWT access token sent as
// id_token_hint (op.ValidateEndSessionRequest decodes any JWT its keys
// signed as ID token claims) and redirects to its logged-out page; an
// access token reaches every resource server, and this one names no
// session, so receivers would end every session of the user. Only ID
// tokens raise after_logout.
func TestAttackSSFZitadelAccessTokenHintRevokesEverySession(t *testing.T) {
	p, h, got := zitadelLogouts(t)
	c, _ := p.Client(testidp.ZitadelJWTClientID)
	code, verifier := login(t, p, c.ID, "openid")
	toks := exchange(t, h, p, c, "/oauth/token", code, verifier)
	at, _ := toks["access_token"].(string)
	if !looksLikeJWS(at) {
		t.Fatalf("access token %q is not a JWT", at)
	}
	w := h.do(httptest.NewRequest(http.MethodGet, p.Issuer()+"/end_session?"+url.Values{"id_token_hint": {at}}.Encode(), nil))
	if w.Code != http.StatusFound {
		t.Fatalf("the OP refused the access token as a hint (%d %s): the attack needs another IdP", w.Code, w.Body)
	}
	noEvent(t, got, "an access token as id_token_hint")

	// Control: the ID token of the same login raises it.
	idt, _ := toks["id_token"].(string)
	w = h.do(httptest.NewRequest(http.MethodGet, p.Issuer()+"/end_session?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {ssfLogoutURI}}.Encode(), nil))
	if w.Code != http.StatusFound {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	if ev := nextEvent(t, got); ev.Map()["sid"] == nil {
		t.Fatalf("event %v", ev.Map())
	}
}

// Tokens the IdP signs with its ID token keys that are not ID tokens, and
// an ID token leaked long ago, raise nothing; the IdP still gets the
// request.
func TestAfterLogoutOnlyFromIDTokens(t *testing.T) {
	h, got := logoutHarness(t, redirectBack)
	now := time.Now()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iss": h.idp.srv.URL, "sub": "alice", "aud": "web", "azp": "web", "sid": "s-1",
			"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	sign := func(c jwt.MapClaims, typ string) string { return h.idp.sign(c, jwt.SigningMethodRS256, h.idp.key, typ) }
	for name, hint := range map[string]string{
		"RFC 9068 access token":        sign(claims(jwt.MapClaims{"client_id": "web", "azp": nil, "scope": "openid"}), "at+jwt"),
		"JWT access token, typ JWT":    sign(claims(jwt.MapClaims{"client_id": "web", "azp": nil, "jti": "a1"}), "JWT"),
		"Keycloak access token":        sign(claims(jwt.MapClaims{"typ": "Bearer", "scope": "openid email"}), "JWT"),
		"Keycloak refresh token":       sign(claims(jwt.MapClaims{"typ": "Refresh"}), "JWT"),
		"Entra access token":           sign(claims(jwt.MapClaims{"scp": "User.Read"}), "JWT"),
		"back-channel logout token":    sign(claims(jwt.MapClaims{"exp": nil, "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}), "logout+jwt"),
		"logout token without its typ": sign(claims(jwt.MapClaims{"exp": nil, "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}), "JWT"),
		"no exp":                       sign(claims(jwt.MapClaims{"exp": nil}), "JWT"),
		"expired two days ago":         sign(claims(jwt.MapClaims{"exp": now.Add(-48 * time.Hour).Unix()}), "JWT"),
	} {
		if w := h.do(logoutRequest(hint)); w.Code != http.StatusFound {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		noEvent(t, got, name)
	}
	// Control: Keycloak's ID token (typ ID) an hour past its exp.
	if w := h.do(logoutRequest(sign(claims(jwt.MapClaims{"typ": "ID"}), "JWT"))); w.Code != http.StatusFound {
		t.Fatalf("%d", w.Code)
	}
	nextEvent(t, got)
}

// The zitadel OP redirects back to every replay of an end-session
// request, the session long ended: after_logout is raised for the first
// only, and for another login's session again.
func TestAttackSSFZitadelReplayedHint(t *testing.T) {
	p, h, got := zitadelLogouts(t)
	first, second := zitadelIDToken(t, p, h), zitadelIDToken(t, p, h)
	for n, tt := range []struct {
		hint, method string
		raised       bool
	}{
		{first, http.MethodGet, true},
		{first, http.MethodGet, false},
		{first, http.MethodPost, false},
		{second, http.MethodGet, true},
	} {
		q := url.Values{"id_token_hint": {tt.hint}, "post_logout_redirect_uri": {ssfLogoutURI}}
		r := httptest.NewRequest(http.MethodGet, p.Issuer()+"/end_session?"+q.Encode(), nil)
		if tt.method == http.MethodPost {
			r = rawRequest(http.MethodPost, p.Issuer()+"/end_session", "application/x-www-form-urlencoded", []byte(q.Encode()))
		}
		if w := h.do(r); w.Code != http.StatusFound {
			t.Fatalf("logout %d: %d %s", n, w.Code, w.Body)
		}
		if tt.raised {
			nextEvent(t, got)
		} else {
			noEvent(t, got, "a replayed logout")
		}
	}
}

// A config reload builds a new interceptor on the pooled upstream: the
// logouts that raised after_logout stay remembered, a replay after it
// raises nothing.
func TestAttackSSFZitadelReplayAfterReload(t *testing.T) {
	p, h, got := zitadelLogouts(t)
	hint := zitadelIDToken(t, p, h)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {ssfLogoutURI}}
	logout := func() {
		if w := h.do(httptest.NewRequest(http.MethodGet, p.Issuer()+"/end_session?"+q.Encode(), nil)); w.Code != http.StatusFound {
			t.Fatalf("logout: %d %s", w.Code, w.Body)
		}
	}
	logout()
	nextEvent(t, got)
	reloaded, err := New(h.ic.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = reloaded
	logout()
	noEvent(t, got, "a logout replayed after a reload")
}

// The same logout sent many times at once (an old hint fired in
// parallel) raises after_logout once: the first request holds the
// session's logout while the IdP answers, the others raise nothing.
func TestAttackSSFZitadelConcurrentReplayedHint(t *testing.T) {
	p, h, got := zitadelLogouts(t)
	hint := zitadelIDToken(t, p, h)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {ssfLogoutURI}}
	const n = 8 // got holds 8
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.do(httptest.NewRequest(http.MethodGet, p.Issuer()+"/end_session?"+q.Encode(), nil))
		}()
	}
	wg.Wait()
	nextEvent(t, got)
	noEvent(t, got, "a logout replayed at the same time")
}

// A logout whose event could not be queued is not remembered: the user's
// retry raises it. A hint without a sid is remembered by the token.
func TestAfterLogoutOncePerSession(t *testing.T) {
	var cfg Config
	idp := logoutIdP(t, redirectBack)
	h := newHarness(t, idp, nil, func(c *Config) { cfg = *c })
	out := &flakyOutbox{fail: 1}
	cfg.Dispatcher = events.NewDispatcher(nil, events.Options{Outbox: out,
		Receivers: []events.Receiver{{Name: "ssf", Events: []string{events.AfterLogout}}}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	noSID := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "web",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}, jwt.SigningMethodRS256, idp.key, "JWT")
	for n, tt := range []struct {
		hint   string
		status int
		queued int
	}{
		{idp.upstreamHint("s-1"), http.StatusServiceUnavailable, 0},
		{idp.upstreamHint("s-1"), http.StatusFound, 1},
		{idp.upstreamHint("s-1"), http.StatusFound, 1}, // the same session again
		{idp.upstreamHint("s-2"), http.StatusFound, 2},
		{noSID, http.StatusFound, 3},
		{noSID, http.StatusFound, 3},
	} {
		if w := h.do(logoutRequest(tt.hint)); w.Code != tt.status || out.queued != tt.queued {
			t.Fatalf("logout %d: %d, %d queued; want %d, %d", n, w.Code, out.queued, tt.status, tt.queued)
		}
	}
}

// flakyOutbox refuses its first fail messages and counts the others.
type flakyOutbox struct{ fail, queued int }

func (o *flakyOutbox) Enqueue(_ context.Context, ms ...delivery.Message) error {
	if o.fail > 0 {
		o.fail--
		return errors.New("queue: no space left on device")
	}
	o.queued += len(ms)
	return nil
}

// The memory of logouts is bounded: past its bound the expired go first.
func TestEndedSessionsBounded(t *testing.T) {
	e := newEndedSessions(3)
	now := time.Now()
	key := func(n int) [32]byte { return [32]byte{byte(n)} }
	e.add(key(1), now.Add(-time.Second), now.Add(-2*time.Second))
	e.add(key(2), now.Add(time.Hour), now)
	e.add(key(3), now.Add(time.Hour), now)
	e.add(key(4), now.Add(time.Hour), now)
	if len(e.until) != 3 || e.seen(key(1), now) || !e.seen(key(2), now) || !e.seen(key(4), now) {
		t.Fatalf("%v", e.until)
	}
	for n := 5; n < 100; n++ {
		e.add(key(n), now.Add(time.Hour), now)
	}
	if len(e.until) != 3 || !e.seen(key(99), now) {
		t.Fatalf("%d entries", len(e.until))
	}
}

// oidc-provider asks the user to confirm every logout (its logoutSource
// page posts to /session/end/confirm with an xsrf token and no hint):
// the end-session request with the hint, replayed or not, ends nothing,
// and raises nothing.
func TestAttackSSFOIDCProviderLogoutIsConfirmed(t *testing.T) {
	p := startOIDCProvider(t)
	c, _ := p.Client(testidp.OIDCProviderBasicClientID)
	h, got := logoutHarnessFor(t, p.Issuer())
	code, verifier := login(t, p, c.ID, "openid")
	idt, _ := exchange(t, h, p, c, "/token", code, verifier)["id_token"].(string)
	q := url.Values{"id_token_hint": {idt}}
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, p.Issuer()+"/session/end?"+q.Encode(), nil)
		w := h.do(r)
		if w.Code != http.StatusOK || !asksToConfirm(w.Header(), w.Body.Bytes()) {
			t.Fatalf("%s: %d %s: not the confirmation page", r.Method, w.Code, w.Body)
		}
		noEvent(t, got, "a logout oidc-provider asks to confirm")
	}
}
