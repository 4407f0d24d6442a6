package oidc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idphooks/idphooks/upstream"
)

// A client_credentials response has no ID token: the JWT access token alone
// is rewritten, and the hook sees the grant and the client.
func TestClientCredentialsGrant(t *testing.T) {
	idp := newTestIdP(t)
	at := idp.jwtAccessToken()
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 60})
	}
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = async (event, api) => {
		api.accessToken.setClaim("grant", event.grant_type + ":" + event.client_id + ":" + (event.id_token === null));
	};`}}, nil)
	w := h.do(tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	resp := decodeJSON(t, w.Body.Bytes())
	if _, ok := resp["id_token"]; ok {
		t.Fatal("an id_token appeared")
	}
	if c := verifyOurs(t, h, resp["access_token"].(string)); c["grant"] != "client_credentials:web:true" {
		t.Fatalf("claims %v", c)
	}
}

func TestRefreshGrantRunsAfterTokenRefresh(t *testing.T) {
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: `
		exports.onAfterTokenRefresh = async (event, api) => { if (event.user.email === "alice@example.com") api.deny("session revoked by policy"); };
		exports.onBeforeToken = async (event, api) => { api.idToken.setClaim("tier", "gold"); };`}}, nil)
	// The code grant is not a refresh: only before_token runs.
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("code grant: %d %s", w.Code, w.Body)
	}
	w := h.do(tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}}))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "session revoked by policy") {
		t.Fatalf("refresh: %d %s", w.Code, w.Body)
	}
}

// Token exchange: a subject token idphooks issued goes back to the IdP as
// the IdP's own.
func TestTokenExchangeSwapsSubjectToken(t *testing.T) {
	idp := newTestIdP(t)
	upstreamAT := idp.jwtAccessToken()
	var gotSubject string
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("grant_type") == tokenExchange {
			gotSubject = r.PostForm.Get("subject_token")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(upstreamAT))
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	ours := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())["access_token"].(string)
	w := h.do(tokenRequest(url.Values{"grant_type": {tokenExchange}, "subject_token": {ours},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"}}))
	if w.Code != 200 || gotSubject != upstreamAT {
		t.Fatalf("%d: IdP got subject_token %.30q…", w.Code, gotSubject)
	}
}

// A signed (application/jwt) userinfo answer is verified, edited and
// re-signed with idphooks' key.
func TestSignedUserinfo(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeUserinfo = async (event, api) => {
		api.userinfo.setClaim("dept", "R&D"); api.userinfo.removeClaim("email");
	};`}}, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwt; charset=utf-8")
		w.Write([]byte(idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "web", "email": "a@x"},
			jwt.SigningMethodRS256, idp.key, "")))
	})
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/userinfo" {
			mux.ServeHTTP(w, r)
			return
		}
		orig.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
	r.Header.Set("Authorization", "Bearer opaque")
	w := h.do(r)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/jwt") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	c := verifyOurs(t, h, w.Body.String())
	if c["dept"] != "R&D" || c["email"] != nil || c["sub"] != "alice" {
		t.Fatalf("claims %v", c)
	}
}

// An upstream userinfo answer that is not JSON is a clear 502, not a crash,
// and a browser client can read it: the IdP's CORS headers stay.
func TestMalformedUserinfo(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeUserinfo = async (e, api) => { api.userinfo.setClaim("x", 1) };`}}, nil)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/userinfo" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Access-Control-Allow-Origin", "https://spa.example")
			w.Write([]byte(`{"sub": "alice"`))
			return
		}
		orig.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
	r.Header.Set("Authorization", "Bearer opaque")
	w := h.do(r)
	if d := oauthError(t, w, http.StatusBadGateway, "server_error"); d != "userinfo response is not a JSON object" {
		t.Errorf("description %q", d)
	}
	if w.Header().Get("Access-Control-Allow-Origin") != "https://spa.example" {
		t.Errorf("the IdP's CORS headers were dropped: %v", w.Header())
	}
}

// End-session by POST form: the id_token_hint idphooks issued is swapped.
func TestEndSessionPostSwap(t *testing.T) {
	idp := newTestIdP(t)
	var hint string
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logout" {
			r.ParseForm()
			hint = r.Form.Get("id_token_hint")
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	ours := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())["id_token"].(string)
	r := httptest.NewRequest(http.MethodPost, "http://idp.test/logout", strings.NewReader(url.Values{"id_token_hint": {ours}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.do(r)
	if hint == ours || hint == "" {
		t.Fatal("IdP received idphooks' ID token as hint")
	}
	if _, err := jwt.NewParser().ParseWithClaims(hint, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return idp.key.Public(), nil }); err != nil {
		t.Fatalf("hint is not the IdP's own token: %v", err)
	}
}

// The issuer, when configured, changes together in discovery, tokens and
// the RFC 9207 iss parameter of authorization redirects.
func TestIssuerRewriteOnRedirect(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize" {
			http.Redirect(w, r, "https://rp.example/cb?code=c1&state=s&iss="+url.QueryEscape(idp.srv.URL), http.StatusFound)
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, nil, func(c *Config) { c.Issuer = "https://auth.example.com" })
	w := h.do(httptest.NewRequest(http.MethodGet, "https://auth.example.com/authorize?client_id=web", nil))
	loc, _ := url.Parse(w.Header().Get("Location"))
	if loc.Query().Get("iss") != "https://auth.example.com" || loc.Query().Get("code") != "c1" {
		t.Fatalf("Location %s", loc)
	}
	resp := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())
	if c := verifyOurs(t, h, resp["id_token"].(string)); c["iss"] != "https://auth.example.com" {
		t.Fatalf("iss %v", c["iss"])
	}
	d := decodeJSON(t, h.do(httptest.NewRequest(http.MethodGet, "https://auth.example.com/.well-known/openid-configuration", nil)).Body.Bytes())
	if d["issuer"] != "https://auth.example.com" {
		t.Fatalf("discovery issuer %v", d["issuer"])
	}
}

// An IdP behind Caddy publishes its public origin in discovery. idphooks
// must fetch its keys without waiting on itself: from the upstream's
// origin when the jwks_uri is on the issuer's, and straight through when
// its own fetch comes back through the proxy anyway.
func TestUpstreamOnPublicOriginDoesNotLoop(t *testing.T) {
	idp := newTestIdP(t)
	var h *harness
	// The public origin: Caddy with idphooks in front of the test IdP.
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.ic.ServeHTTP(w, r, h.next); err != nil {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer public.Close()
	// The IdP's discovery names the public origin, as Keycloak with
	// KC_HOSTNAME does, but its issuer stays the IdP's for tokens.
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			json.NewEncoder(w).Encode(map[string]any{
				"issuer": idp.srv.URL, "token_endpoint": public.URL + "/token", "jwks_uri": public.URL + "/jwks",
			})
			return
		}
		orig.ServeHTTP(w, r)
	})
	// The upstream URL is the public origin itself: every fetch of
	// idphooks comes back through idphooks.
	h = newHarness(t, idp, []hookSpec{{src: tierHook}}, func(c *Config) { c.Upstream = NewUpstream(public.URL, 0) })
	h.ic.up.Client.SetTimeout(3 * time.Second)
	start := time.Now()
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 || time.Since(start) > 2*time.Second {
		t.Fatalf("status %d after %v: %s", w.Code, time.Since(start), w.Body)
	}
	// A client cannot borrow the marker to skip the interceptor.
	r := tokenRequest(codeForm())
	r.Header.Set(upstream.Header, "guess")
	w = h.do(r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "id_token") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c := verifyOurs(t, h, decodeJSON(t, w.Body.Bytes())["id_token"].(string)); c["tier"] != "gold" {
		t.Fatal("a forged marker skipped the hooks")
	}
}

func TestJWKSURL(t *testing.T) {
	for _, tc := range []struct{ up, iss, jwks, want string }{
		{"http://keycloak:8080/realms/a", "https://auth.example.com/realms/a", "https://auth.example.com/realms/a/certs", "http://keycloak:8080/realms/a/certs"},
		{"http://idp:9000", "http://idp:9000", "http://idp:9000/jwks", "http://idp:9000/jwks"},
		{"https://accounts.google.com", "https://accounts.google.com", "https://www.googleapis.com/oauth2/v3/certs", "https://www.googleapis.com/oauth2/v3/certs"},
		{"http://keycloak:8080", "https://auth.example.com", "https://keys.example.net/certs", "https://keys.example.net/certs"},
	} {
		u := NewUpstream(tc.up, 0)
		if got := u.JWKSURL(&Discovery{Issuer: tc.iss, JWKSURI: tc.jwks}); got != tc.want {
			t.Errorf("JWKSURL(%s, %s, %s) = %s, want %s", tc.up, tc.iss, tc.jwks, got, tc.want)
		}
	}
}

// A browser client must be able to read idphooks' own answers: a denial
// keeps the IdP's CORS headers, and the key set is readable from any origin.
func TestCORSOnDenyAndJWKS(t *testing.T) {
	idp := newTestIdP(t)
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://spa.example")
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse("opaque"))
	}
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => api.deny("nope")`}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 400 || w.Header().Get("Access-Control-Allow-Origin") != "https://spa.example" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	w = h.do(httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/idphooks/jwks.json", nil))
	if w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("JWKS headers %v", w.Header())
	}
}

// An IdP that takes its issuer from the request's host (Keycloak without a
// fixed hostname) signs tokens issued through the proxy with the public
// origin; discovery fetched directly names the upstream's. Both are the
// IdP's.
func TestIssuerOnPublicOriginAccepted(t *testing.T) {
	idp := newTestIdP(t)
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		tok := idp.sign(jwt.MapClaims{"iss": "http://idp.test", "sub": "alice", "aud": "web", "exp": time.Now().Add(time.Hour).Unix()},
			jwt.SigningMethodRS256, idp.key, "")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"a","id_token":"` + tok + `"}`))
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c := verifyOurs(t, h, decodeJSON(t, w.Body.Bytes())["id_token"].(string)); c["iss"] != "http://idp.test" || c["tier"] != "gold" {
		t.Fatalf("claims %v", c)
	}
}

// Values JSON cannot carry are refused in the hook, where the author sees
// them, instead of failing the signature later.
func TestNonJSONClaimValueThrowsInHook(t *testing.T) {
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: `exports.onBeforeToken = async (e, api) => {
		for (const v of [NaN, Infinity, [1, NaN]]) {
			try { api.idToken.setClaim("bad", v); } catch (err) { api.idToken.setClaim("caught_" + String(v), true); }
		}
	};`}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	c := verifyOurs(t, h, decodeJSON(t, w.Body.Bytes())["id_token"].(string))
	if c["caught_NaN"] != true || c["caught_Infinity"] != true || c["caught_1,NaN"] != true || c["bad"] != nil {
		t.Fatalf("claims %v", c)
	}
}

// Spellings of the token endpoint's path that IdP frameworks accept, and
// token requests that are not form posts, still go through the hooks.
func TestTokenEndpointVariantsCannotSkipHooks(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	// Like Keycloak (JAX-RS), the IdP answers every spelling.
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/token") || strings.HasPrefix(r.URL.Path, "//token") || strings.HasPrefix(r.URL.Path, "/x/../token") {
			w.Header().Set("Content-Type", "application/json")
			w.Write(idp.tokenResponse("opaque"))
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => api.deny("blocked")`}}, nil)
	for _, p := range []string{"/token", "/token/", "//token", "/token;jsessionid=1", "/x/../token"} {
		r := httptest.NewRequest(http.MethodPost, "http://idp.test"+p, strings.NewReader(codeForm().Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("web", "secret")
		if w := h.do(r); w.Code != 400 || !strings.Contains(w.Body.String(), "blocked") {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
	for _, ct := range []string{"", "application/json", "text/plain"} {
		r := httptest.NewRequest(http.MethodPost, "http://idp.test/token", strings.NewReader(codeForm().Encode()))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.SetBasicAuth("web", "secret")
		if w := h.do(r); w.Code != 400 || !strings.Contains(w.Body.String(), "blocked") {
			t.Errorf("content type %q: %d %s", ct, w.Code, w.Body)
		}
	}
}

// idphooks' own fetch marker opens only GETs of discovery and keys: a
// leaked one does not skip the hooks.
func TestLeakedMarkerOpensNothing(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => api.deny("blocked")`}}, nil)
	r := tokenRequest(codeForm())
	marker, done := h.ic.up.Client.Mark()
	defer done()
	r.Header.Set(upstream.Header, marker)
	if w := h.do(r); w.Code != 400 {
		t.Fatalf("token request with the marker: %d %s", w.Code, w.Body)
	}
}

// A userinfo hook limited to one application runs for that application's
// tokens even when no token hook touched them: the client is remembered at
// the token endpoint, or read from the JWT the IdP accepted.
func TestFilteredUserinfoHookKnowsTheClient(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeUserinfo = (e, api) => api.deny("web may not read userinfo")`, apps: []string{"web"}}}, nil)
	// An opaque token issued through idphooks.
	resp := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())
	for _, tok := range []string{resp["access_token"].(string), idp.jwtAccessToken()} {
		r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if w := h.do(r); w.Code != http.StatusForbidden {
			t.Errorf("token %.12s…: %d %s", tok, w.Code, w.Body)
		}
	}
	// Another client's token: the hook does not apply.
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
	r.Header.Set("Authorization", "Bearer never-seen")
	if w := h.do(r); w.Code != 200 {
		t.Errorf("unknown client: %d %s", w.Code, w.Body)
	}
}

// Tokens issued to another client than the one hooks were chosen for are
// refused; DPoP-bound access tokens are never rewritten.
func TestClientMismatchAndDPoP(t *testing.T) {
	idp := newTestIdP(t)
	at := idp.jwtAccessToken() // client_id "web"
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "DPoP"})
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	r := httptest.NewRequest(http.MethodPost, "http://idp.test/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("other", "secret")
	oauthError(t, h.do(r), http.StatusBadGateway, "server_error")
	w := h.do(tokenRequest(url.Values{"grant_type": {"client_credentials"}}))
	if w.Code != 200 || decodeJSON(t, w.Body.Bytes())["access_token"] != at {
		t.Fatalf("DPoP token: %d %s", w.Code, w.Body)
	}
}

func TestHeadDiscoveryPassesThrough(t *testing.T) {
	h := newHarness(t, newTestIdP(t), nil, nil)
	if w := h.do(httptest.NewRequest(http.MethodHead, "http://idp.test/.well-known/openid-configuration", nil)); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// On a refresh there is no code to hash again: a c_hash that the new
// algorithm would compute differently is dropped, one it computes alike is
// kept.
func TestCHashOnRefresh(t *testing.T) {
	for alg, kept := range map[string]bool{"ES256": true, "EdDSA": false} {
		idp := newTestIdP(t)
		idp.token = func(w http.ResponseWriter, r *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "web", "exp": time.Now().Add(time.Hour).Unix(), "c_hash": "abc"},
				jwt.SigningMethodRS256, idp.key, "")
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"a","id_token":"` + tok + `"}`))
		}
		h := newHarnessAlg(t, idp, []hookSpec{{src: tierHook}}, nil, alg)
		w := h.do(tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"r"}}))
		c := verifyOurs(t, h, decodeJSON(t, w.Body.Bytes())["id_token"].(string))
		if _, ok := c["c_hash"]; ok != kept {
			t.Errorf("%s: c_hash kept = %v, want %v", alg, ok, kept)
		}
	}
}

// With the issuer rewritten, a form_post authorization response (an HTML
// page posting code, state and iss) carries the public issuer too; other
// pages pass as they are.
func TestIssuerRewriteInFormPost(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/authorize":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!DOCTYPE html><html><body onload="document.forms[0].submit()"><FORM method='post' action="https://rp.example/cb">
<input type="hidden" name="code" value="c1"/><INPUT TYPE=hidden VALUE="%s" NAME=iss><input type="hidden" name="state" value="a&amp;b"/></FORM></body></html>`, idp.srv.URL)
		case "/login-page":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><body><form><input name="username"></form></body></html>`)
		default:
			orig.ServeHTTP(w, r)
		}
	})
	h := newHarness(t, idp, nil, func(c *Config) { c.Issuer = "https://auth.example.com" })
	r := httptest.NewRequest(http.MethodGet, "https://auth.example.com/authorize?response_mode=form_post", nil)
	r.Header.Set("Accept", "text/html")
	w := h.do(r)
	page := w.Body.String()
	if !strings.Contains(page, `VALUE="https://auth.example.com" NAME=iss`) || strings.Contains(page, idp.srv.URL) {
		t.Fatalf("form_post page: %s", page)
	}
	if !strings.Contains(page, `value="a&amp;b"`) || w.Header().Get("Content-Length") != strconv.Itoa(len(page)) {
		t.Fatalf("rest of the page or length changed: %v %s", w.Header(), page)
	}
	r = httptest.NewRequest(http.MethodGet, "https://auth.example.com/login-page", nil)
	if w := h.do(r); w.Body.String() != `<html><body><form><input name="username"></form></body></html>` {
		t.Fatalf("other page: %s", w.Body)
	}
}

// A token request naming two different clients (Basic and form) cannot
// steer hook selection: the client comes from the tokens.
func TestConflictingClientIdentities(t *testing.T) {
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: `exports.onBeforeToken = (e, api) => api.deny("web is locked")`, apps: []string{"web"}}}, nil)
	form := codeForm()
	form.Set("client_id", "web")
	r := httptest.NewRequest(http.MethodPost, "http://idp.test/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("someone-else", "")
	if w := h.do(r); w.Code != 400 || !strings.Contains(w.Body.String(), "web is locked") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// Userinfo that reads as JSON (or a JWS) under another content type is
// treated as what it is: a deny hook is not skipped by a text/plain
// label; a page that is neither passes unchanged.
func TestUserinfoUnderAnotherContentType(t *testing.T) {
	for _, tc := range []struct {
		ctype, body string
		want        int
	}{
		{"text/plain", `{"sub": "alice"}`, http.StatusForbidden},
		{"application/octet-stream", "\n {\"sub\": \"alice\"}\n", http.StatusForbidden},
		{"text/html; charset=utf-8", `{"sub": "alice"`, http.StatusBadGateway},
		{"text/html", "<html>maintenance</html>", http.StatusOK},
	} {
		idp := newTestIdP(t)
		h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeUserinfo = async (e, api) => api.deny("no")`}}, nil)
		orig := idp.srv.Config.Handler
		idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/userinfo" {
				w.Header().Set("Content-Type", tc.ctype)
				w.Write([]byte(tc.body))
				return
			}
			orig.ServeHTTP(w, r)
		})
		r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
		r.Header.Set("Authorization", "Bearer opaque")
		if w := h.do(r); w.Code != tc.want {
			t.Errorf("%s %q: status %d, want %d (%s)", tc.ctype, tc.body, w.Code, tc.want, w.Body)
		}
	}
}
