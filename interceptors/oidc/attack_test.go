package oidc

// Attacks on the hooks: requests that a real IdP reads one way and
// idphooks another. Each test fails while the attack works. Tests named
// ...OIDCProvider... and ...Zitadel... run the real providers of the suite
// (npm oidc-provider under node, the zitadel/oidc example OP in-process);
// the others use the unit harness' fake IdP, made to parse the way the
// named IdP does (its source is cited at each test).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idphooks/idphooks/internal/testidp"
)

// harnessFor is the unit harness in front of any upstream URL (a real
// IdP): newHarness only reads the fake's URL.
func harnessFor(t *testing.T, upstream string, hooks []hookSpec) *harness {
	t.Helper()
	return newHarness(t, &testIdP{srv: &httptest.Server{URL: upstream}}, hooks, nil)
}

func startOIDCProvider(t *testing.T) *testidp.Provider {
	t.Helper()
	if testing.Short() {
		t.Skip("starts node")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	p, err := testidp.StartOIDCProvider(testidp.OIDCProviderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func startZitadel(t *testing.T) *testidp.Provider {
	t.Helper()
	p, err := testidp.StartZitadel(testidp.ZitadelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// login runs the authorization code flow's front channel directly at the
// IdP and returns the code and its PKCE verifier.
func login(t *testing.T, p *testidp.Provider, clientID, scope string) (code, verifier string) {
	t.Helper()
	var b [32]byte
	rand.Read(b[:])
	verifier = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {testidp.DefaultRedirectURI}, "state": {"st-123456"}, "nonce": {"n-123456"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	if strings.Contains(scope, "offline_access") {
		q.Set("prompt", "consent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := testidp.Login(ctx, nil, p.Issuer()+"/auth?"+q.Encode(), testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	if code = u.Query().Get("code"); code == "" {
		t.Fatalf("no code in %s", u)
	}
	return code, verifier
}

func rawRequest(method, target, contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(string(body)))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// tokens reports whether an answer hands out tokens.
func tokens(w *httptest.ResponseRecorder) bool {
	return w.Code == 200 && strings.Contains(w.Body.String(), `"access_token"`)
}

func exchange(t *testing.T, h *harness, p *testidp.Provider, c testidp.Client, tokenPath, code, verifier string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testidp.DefaultRedirectURI}, "code_verifier": {verifier}}
	r := rawRequest(http.MethodPost, p.Issuer()+tokenPath, "application/x-www-form-urlencoded", []byte(form.Encode()))
	r.SetBasicAuth(c.ID, c.Secret)
	w := h.do(r)
	if !tokens(w) {
		t.Fatalf("code exchange: %d %s", w.Code, w.Body)
	}
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return m
}

// oidc-provider accepts Basic credentials without base64 padding
// (lib/shared/client_auth.js isValidBase64, then Buffer.from(…,'base64'));
// Go's Request.BasicAuth does not, so idphooks takes the client from the
// query, where oidc-provider never looks on a POST. Java's Base64 decoder
// (Keycloak's BasicAuthHelper) does not require padding either.
func TestAttackOIDCProviderUnpaddedBasicSkipsDenyHook(t *testing.T) {
	p := startOIDCProvider(t)
	c, _ := p.Client(testidp.OIDCProviderBasicClientID)
	h := harnessFor(t, p.Issuer(), []hookSpec{{src: denyHook, apps: []string{c.ID}}})
	code, verifier := login(t, p, c.ID, "openid email")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testidp.DefaultRedirectURI}, "code_verifier": {verifier}}
	r := rawRequest(http.MethodPost, p.Issuer()+"/token?client_id=other", "application/x-www-form-urlencoded", []byte(form.Encode()))
	r.Header.Set("Authorization", "Basic "+base64.RawStdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret)))
	if w := h.do(r); tokens(w) {
		t.Errorf("unpadded Basic, decoy client_id in the query: tokens past the deny hook: %.120s", w.Body)
	}
}

// Go's ParseForm, which the zitadel OP uses (pkg/op/token_request.go:
// r.FormValue("grant_type"), then r.ParseForm and the schema decoder on
// r.Form), reads PUT and PATCH bodies; chi's HandleFunc routes every method
// to the token handler. idphooks reads only POST bodies: it sees no
// grant_type, and after_token_refresh never runs.
func TestAttackZitadelPUTSkipsRefreshHook(t *testing.T) {
	p := startZitadel(t)
	c, _ := p.Client(testidp.ZitadelWebClientID)
	h := harnessFor(t, p.Issuer(), []hookSpec{{src: `exports.onAfterTokenRefresh = (e, api) => api.deny("refresh blocked")`}})
	// Zitadel rotates refresh tokens, also on the answers idphooks denies:
	// one login per try.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
		code, verifier := login(t, p, c.ID, "openid offline_access")
		rt, _ := exchange(t, h, p, c, "/oauth/token", code, verifier)["refresh_token"].(string)
		if rt == "" {
			t.Fatal("no refresh token")
		}
		r := rawRequest(m, p.Issuer()+"/oauth/token", "application/x-www-form-urlencoded",
			[]byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		r.SetBasicAuth(c.ID, c.Secret)
		w := h.do(r)
		if m == http.MethodPost {
			if w.Code != 400 || !strings.Contains(w.Body.String(), "refresh blocked") {
				t.Fatalf("control (POST): %d %s", w.Code, w.Body)
			}
			continue
		}
		if tokens(w) {
			t.Errorf("refresh by %s: tokens past after_token_refresh: %.120s", m, w.Body)
		}
	}
}

// The zitadel OP decodes forms with zitadel/schema, which matches names
// without regard to case (cache.go: strings.EqualFold), iterating the form
// map in Go's random order. client_id=other&Client_Id=web: idphooks judges
// "other", the OP authenticates whichever comes last — "web" about every
// second try, and a failed try costs nothing (the client is authenticated
// before the code is looked at).
func TestAttackZitadelCaseFoldedClientIDSkipsDenyHook(t *testing.T) {
	p := startZitadel(t)
	c, _ := p.Client(testidp.ZitadelWebClientID)
	h := harnessFor(t, p.Issuer(), []hookSpec{{src: denyHook, apps: []string{c.ID}}})
	code, verifier := login(t, p, c.ID, "openid email")
	body := "grant_type=authorization_code&code=" + url.QueryEscape(code) + "&redirect_uri=" + url.QueryEscape(testidp.DefaultRedirectURI) +
		"&code_verifier=" + verifier + "&client_id=other&Client_Id=" + c.ID + "&client_secret=" + c.Secret
	for try := 1; try <= 40; try++ {
		w := h.do(rawRequest(http.MethodPost, p.Issuer()+"/oauth/token", "application/x-www-form-urlencoded", []byte(body)))
		if tokens(w) {
			t.Fatalf("try %d: tokens for %s past its deny hook: %.120s", try, c.ID, w.Body)
		}
	}
}

// At the zitadel OP's userinfo endpoint a token that is not in the
// Authorization header is read from r.Form by the same case-blind schema
// decoder (pkg/op/userinfo.go ParseUserinfoRequest), PUT bodies included.
// idphooks finds no token, so it knows neither the client (a userinfo hook
// limited to that client is skipped) nor the ID token's edits.
func TestAttackZitadelHiddenUserinfoTokenSkipsRedaction(t *testing.T) {
	p := startZitadel(t)
	c, _ := p.Client(testidp.ZitadelWebClientID)
	h := harnessFor(t, p.Issuer(), []hookSpec{{src: `exports.onBeforeUserinfo = (e, api) => api.userinfo.removeClaim("email")`, apps: []string{c.ID}}})
	code, verifier := login(t, p, c.ID, "openid email")
	at, _ := exchange(t, h, p, c, "/oauth/token", code, verifier)["access_token"].(string)

	r := httptest.NewRequest(http.MethodGet, p.Issuer()+"/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+at)
	if w := h.do(r); w.Code != 200 || strings.Contains(w.Body.String(), testidp.TestUser.Email) {
		t.Fatalf("control: %d %s", w.Code, w.Body)
	}
	for name, r := range map[string]*http.Request{
		"query ACCESS_TOKEN": httptest.NewRequest(http.MethodGet, p.Issuer()+"/userinfo?ACCESS_TOKEN="+url.QueryEscape(at), nil),
		"PUT form body":      rawRequest(http.MethodPut, p.Issuer()+"/userinfo", "application/x-www-form-urlencoded", []byte("access_token="+url.QueryEscape(at))),
	} {
		if w := h.do(r); w.Code == 200 && strings.Contains(w.Body.String(), testidp.TestUser.Email) {
			t.Errorf("%s: the hook's redaction skipped: %s", name, w.Body)
		}
	}
}

// keycloakAuth reads an Authorization header the way Keycloak does
// (services/.../managers/AppAuthManager.java extractTokenStringFromAuthHeader:
// trim, split on \s+, two parts, "Bearer" in any case); DPoP is the scheme
// oidc-provider (features.dPoP, lib/helpers/oidc_context.js getAccessToken)
// and Keycloak 26 accept for sender-constrained tokens.
var keycloakAuth = regexp.MustCompile(`^(?i:bearer|dpop)\s+(\S+)$`)

// A before_token hook removes email from the ID token; idphooks replays the
// edit on userinfo, found by the access token. A header idphooks does not
// read as Bearer, but the IdP does, hides the token: userinfo answers with
// the email.
func TestAttackUserinfoAuthorizationSpellingSkipsIDTokenEdits(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/userinfo" {
			m := keycloakAuth.FindStringSubmatch(strings.TrimSpace(r.Header.Get("Authorization")))
			if m == nil || m[1] != "opaque-at-123" {
				http.Error(w, `{"error":"invalid_token"}`, 401)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"sub":"alice","email":"alice@example.com"}`))
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => api.idToken.removeClaim("email")`}}, nil)
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	for _, auth := range []string{"Bearer opaque-at-123", "Bearer\topaque-at-123", "DPoP opaque-at-123"} {
		r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
		r.Header.Set("Authorization", auth)
		if auth[0] == 'D' {
			r.Header.Set("DPoP", "proof")
		}
		w := h.do(r)
		if w.Code != 200 || strings.Contains(w.Body.String(), "email") {
			t.Errorf("Authorization %q: %d %s, want 200 without email", auth, w.Code, w.Body)
		}
	}
}

// Introspection answers are the IdP's, unread: for an access token a hook
// edited, Keycloak (TokenIntrospectionEndpoint: the token's own claims) and
// oidc-provider (extraTokenClaims) report what the IdP issued, so a resource
// server that introspects sees the claims a hook removed.
func TestAttackIntrospectionRevealsRemovedClaims(t *testing.T) {
	idp := newTestIdP(t)
	now := time.Now()
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		at := idp.sign(jwt.MapClaims{
			"iss": idp.srv.URL, "sub": "alice", "aud": "api", "client_id": "web", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "jti": "j1", "scope": "openid", "email": "alice@example.com", "roles": []string{"admin"},
		}, jwt.SigningMethodRS256, idp.key, "at+jwt")
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(at))
	}
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/introspect" {
			r.ParseForm()
			parts := strings.Split(r.PostForm.Get("token"), ".")
			claims := map[string]any{}
			if len(parts) == 3 {
				b, _ := base64.RawURLEncoding.DecodeString(parts[1])
				json.Unmarshal(b, &claims)
			}
			claims["active"] = true
			json.NewEncoder(w).Encode(claims)
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => { api.accessToken.removeClaim("email"); api.accessToken.setClaim("roles", []) }`}}, nil)
	w := h.do(tokenRequest(codeForm()))
	var resp map[string]string
	json.Unmarshal(w.Body.Bytes(), &resp)
	at := resp["access_token"]
	if w.Code != 200 || strings.Contains(claimsJSON(at), "email") {
		t.Fatalf("token: %d %s", w.Code, claimsJSON(at))
	}
	r := rawRequest(http.MethodPost, "http://idp.test/introspect", "application/x-www-form-urlencoded", []byte("token="+at))
	r.SetBasicAuth("api", "secret")
	if w := h.do(r); strings.Contains(w.Body.String(), "email") || strings.Contains(w.Body.String(), "admin") {
		t.Errorf("introspection of the edited token: %s", w.Body)
	}
}

func claimsJSON(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return string(b)
}

// A CORS preflight of the token or userinfo endpoint (an SPA, the public
// client deny hooks are most often for) gets the IdP's 204 (oidc-provider
// CORS.respond; Keycloak answers 200, empty): idphooks holds every 2xx and
// finds no token response in it, so every preflight is a 502 whenever a
// hook exists.
func TestAttackPreflightIsNotAnAnswer(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			w.Header().Set("Access-Control-Allow-Methods", "POST")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: denyHook}, {src: `exports.onBeforeUserinfo = (e, api) => {}`}}, nil)
	for _, path := range []string{"/token", "/userinfo"} {
		r := httptest.NewRequest(http.MethodOptions, "http://idp.test"+path, nil)
		r.Header.Set("Origin", "https://spa.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
		w := h.do(r)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") == "" {
			b, _ := io.ReadAll(w.Body)
			t.Errorf("preflight of %s: %d %s", path, w.Code, b)
		}
	}
}

// Tokens issued at the authorization endpoint (response_type token, or
// "code token" / "id_token token") never pass the token endpoint: a
// before_token deny hook never sees them. Discovery keeps advertising
// "token" response types, and the authorization request is passed as it
// is. Needs an IdP client allowed to use them (Keycloak: "Implicit flow
// enabled"; oidc-provider: response_types of the client).
func TestAttackImplicitTokenSkipsDenyHook(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize" && strings.Contains(r.URL.Query().Get("response_type"), "token") {
			q := r.URL.Query()
			http.Redirect(w, r, q.Get("redirect_uri")+"#access_token=opaque-at-9&token_type=Bearer&state="+q.Get("state"), http.StatusFound)
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: denyHook}}, nil)
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/authorize?client_id=web&response_type=token&redirect_uri=http://rp/cb&state=s", nil)
	w := h.do(r)
	if loc := w.Header().Get("Location"); strings.Contains(loc, "access_token=") {
		t.Errorf("response_type=token: %d, Location %s: a token the deny hook never saw", w.Code, loc)
	}
}
