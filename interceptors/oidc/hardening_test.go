package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/store"
)

const denyHook = `exports.onBeforeToken = (e, api) => api.deny("blocked")`

// A parameter idphooks reads, sent twice, is refused: IdPs that read the
// last value (or merge the query into the form) would otherwise act on a
// value the hooks were not chosen for.
func TestRepeatedParametersRefused(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{
		{src: denyHook, apps: []string{"web"}},
		{src: `exports.onBeforeUserinfo = (e, api) => api.userinfo.setClaim("seen", true)`},
	}, nil)
	post := func(path, query string, form url.Values, basic bool) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://idp.test"+path+query, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			r.SetBasicAuth("web", "secret")
		}
		return r
	}
	twice := func(k, a, b string) url.Values {
		f := codeForm()
		f[k] = []string{a, b}
		return f
	}
	cases := map[string]*http.Request{
		"client_id twice":                 post("/token", "", twice("client_id", "other", "web"), false),
		"grant_type twice":                post("/token", "", twice("grant_type", "authorization_code", "refresh_token"), true),
		"client_id in query and form":     post("/token", "?client_id=web", url.Values{"grant_type": {"authorization_code"}, "code": {"c"}, "client_id": {"other"}}, false),
		"scope twice":                     post("/token", "", twice("scope", "openid", "openid admin"), true),
		"token twice at introspection":    post("/introspect", "", url.Values{"token": {"a", "b"}}, true),
		"id_token_hint in query and form": post("/logout", "?id_token_hint=a", url.Values{"id_token_hint": {"b"}}, false),
		"access_token in header and query": func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo?access_token=b", nil)
			r.Header.Set("Authorization", "Bearer a")
			return r
		}(),
		"access_token twice in the query": httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo?access_token=a&access_token=b", nil),
		"two Authorization headers": func() *http.Request {
			r := tokenRequest(codeForm())
			r.Header.Add("Authorization", "Basic b3RoZXI6eA==")
			return r
		}(),
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			w := h.do(r)
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"invalid_request"`) {
				t.Fatalf("%d %s, want 400 invalid_request", w.Code, w.Body)
			}
			if w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
			}
		})
	}
	// Repeated parameters idphooks does not read, and the ones the specs
	// allow several of, pass.
	f := codeForm()
	f["resource"] = []string{"https://a.example", "https://b.example"}
	f["audience"] = []string{"a", "b"}
	if w := h.do(post("/token", "", f, true)); w.Code != 400 || !strings.Contains(w.Body.String(), "blocked") {
		t.Fatalf("resources and audiences: %d %s", w.Code, w.Body)
	}
}

// Every success status of the token and userinfo endpoints is inspected.
func TestOtherSuccessStatusesAreInspected(t *testing.T) {
	for _, status := range []int{201, 203, 206} {
		idp := newTestIdP(t)
		idp.token = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write(idp.tokenResponse("opaque"))
		}
		h := newHarness(t, idp, []hookSpec{{src: denyHook}}, nil)
		if w := h.do(tokenRequest(codeForm())); w.Code != 400 || !strings.Contains(w.Body.String(), "blocked") {
			t.Errorf("token answer %d: %d %s", status, w.Code, w.Body)
		}
	}
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/userinfo" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(203)
			w.Write([]byte(`{"sub":"alice","phone_number":"+1"}`))
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeUserinfo = (e, api) => api.userinfo.removeClaim("phone_number")`}}, nil)
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
	r.Header.Set("Authorization", "Bearer opaque")
	if w := h.do(r); w.Code != 203 || strings.Contains(w.Body.String(), "phone_number") {
		t.Errorf("userinfo answer 203: %d %s", w.Code, w.Body)
	}
}

// The IdP's encryption keys are republished (clients encrypt request
// objects to them) but never verify a token; private members never leave.
func TestEncryptionKeysPublishedNotTrusted(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	encKey := jose.JSONWebKey{Key: testRSAKey.Public(), KeyID: "enc-1", Algorithm: "RSA-OAEP", Use: "enc"}
	priv := jose.JSONWebKey{Key: testRSAKey, KeyID: "leaked", Algorithm: "RS256", Use: "sig"}
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			sig := jose.JSONWebKey{Key: idp.key.Public(), KeyID: idp.kid, Algorithm: "RS256", Use: "sig"}
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig, encKey, priv}})
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	for _, p := range []string{"/jwks", "/.well-known/idphooks/jwks.json"} {
		w := h.do(httptest.NewRequest(http.MethodGet, "http://idp.test"+p, nil))
		var set struct{ Keys []map[string]any }
		if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
			t.Fatal(err)
		}
		kids := map[any]bool{}
		for _, k := range set.Keys {
			kids[k["kid"]] = true
			if _, ok := k["d"]; ok {
				t.Errorf("%s: a private key is published: %v", p, k["kid"])
			}
		}
		if !kids["enc-1"] || !kids[idp.kid] || kids["leaked"] {
			t.Errorf("%s: kids %v, want enc-1 and %s, not the private one", p, kids, idp.kid)
		}
	}
	// A token naming the encryption key does not verify.
	idp.mu.Lock()
	idp.kid = "enc-1"
	idp.mu.Unlock()
	oauthError(t, h.do(tokenRequest(codeForm())), http.StatusBadGateway, "server_error")
}

// A failing key fetch backs off instead of being retried on every token
// request, and redirects may not leave the upstream's origin. The token
// requests get a retry-worthy 502, and one log line, not twenty.
func TestKeyFetchBacksOffAndStaysOnOrigin(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("X-Idphooks-Internal") != "" {
			t.Errorf("the own-fetch marker reached another origin")
		}
		w.Write([]byte(`{"keys":[]}`))
	}))
	defer elsewhere.Close()
	for _, tc := range []struct {
		name string
		to   func(idp *testIdP) string
	}{
		{"redirect loop", func(idp *testIdP) string { return "/jwks" }},
		{"redirect to another origin", func(*testIdP) string { return elsewhere.URL + "/jwks" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := newTestIdP(t)
			orig := idp.srv.Config.Handler
			var fetches atomic.Int32
			idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/jwks" {
					fetches.Add(1)
					http.Redirect(w, r, tc.to(idp), http.StatusFound)
					return
				}
				orig.ServeHTTP(w, r)
			})
			core, logs := observer.New(zap.InfoLevel)
			h := newHarness(t, idp, []hookSpec{{src: tierHook}}, func(c *Config) { c.Logger = zap.New(core) })
			for range 20 {
				if d := oauthError(t, h.do(tokenRequest(codeForm())), http.StatusBadGateway, "temporarily_unavailable"); d != "identity provider keys unavailable" {
					t.Fatalf("description %q", d)
				}
			}
			if n := fetches.Load(); n > 6 {
				t.Errorf("20 token requests made %d key fetches; want one fetch (of at most 5 redirects) and a backoff", n)
			}
			if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n != 1 {
				t.Errorf("%d error lines for 20 token requests and one failed fetch, want 1: %v", n, logs.All())
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("a redirect to another origin was followed %d times", hits.Load())
	}
}

// idphooks' marker goes only to the upstream's own origin: a jwks_uri
// elsewhere never sees it.
func TestMarkerStaysOnUpstreamOrigin(t *testing.T) {
	idp := newTestIdP(t)
	var marked atomic.Bool
	keysHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		marked.Store(marked.Load() || r.Header.Get("X-Idphooks-Internal") != "")
		idp.mu.Lock()
		k := jose.JSONWebKey{Key: idp.key.Public(), KeyID: idp.kid, Algorithm: "RS256", Use: "sig"}
		idp.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
	}))
	defer keysHost.Close()
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			base := idp.srv.URL
			json.NewEncoder(w).Encode(map[string]any{"issuer": base, "token_endpoint": base + "/token", "jwks_uri": keysHost.URL + "/keys"})
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	if marked.Load() {
		t.Error("the own-fetch marker was sent to a jwks_uri on another origin")
	}
}

// failingSwaps is a swap table whose writes fail as store.Bolt's do while
// its disk is full (store's tests make a real disk fail; this is the
// interceptor's half of the contract).
type failingSwaps struct{ memSwaps }

func (failingSwaps) Put(context.Context, ...SwapWrite) error {
	return fmt.Errorf("swaps: %w", ErrSwapUnavailable)
}

// A swap table that cannot write makes the token answer a 503, never a
// rewritten token the IdP would later refuse.
func TestUnwritableSwapsAnswer503(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, func(c *Config) {
		c.Swaps = failingSwaps{newMemSwaps(t, store.NewMemory())}
	})
	w := h.do(tokenRequest(codeForm()))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"temporarily_unavailable"`) {
		t.Fatalf("%d %s, want 503 temporarily_unavailable", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "access_token") {
		t.Error("a token went out although its swap was not stored")
	}
}

// Every token answer is read while a token hook exists; one idphooks
// cannot verify (an HS256 ID token, a client secret's "signature") still
// passes as the IdP made it when no hook applies to its client, and is
// refused when one does.
func TestUnverifiableTokensOfAClientWithoutHooksPass(t *testing.T) {
	for _, tc := range []struct {
		client string
		status int
	}{{"b", 200}, {"a", 502}} {
		idp := newTestIdP(t)
		idp.token = func(w http.ResponseWriter, r *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": tc.client, "exp": time.Now().Add(time.Hour).Unix()},
				jwt.SigningMethodHS256, []byte("client-secret"), "")
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"opaque","token_type":"Bearer","id_token":"` + tok + `"}`))
		}
		h := newHarness(t, idp, []hookSpec{{src: denyHook, apps: []string{"a"}}}, nil)
		r := tokenRequest(codeForm())
		r.SetBasicAuth(tc.client, "secret")
		w := h.do(r)
		if w.Code != tc.status {
			t.Errorf("client %s: %d %s, want %d", tc.client, w.Code, w.Body, tc.status)
		}
		if tc.status == http.StatusBadGateway {
			oauthError(t, w, http.StatusBadGateway, "server_error")
		}
		if tc.status == 200 && !strings.Contains(w.Body.String(), `"access_token":"opaque"`) {
			t.Errorf("client %s: answer changed: %s", tc.client, w.Body)
		}
	}
}

// The front-channel check on other paths does not refuse an asset whose
// query Go cannot parse, but does refuse one that names a response type.
func TestFrontChannelQueryOnOtherPaths(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: denyHook}}, nil)
	for q, want := range map[string]int{
		"v=1;2":                                    404, // the test IdP has no such asset: it passed
		"a=1;response_type=token":                  400,
		"client_id=web&response_type=code":         404,
		"client_id=web&response_type=code%20token": 400,
		"client_id=web&%72esponse_type=token":      400,
		"session_code=abc&tab_id=x":                404,
	} {
		w := h.do(httptest.NewRequest(http.MethodGet, "http://idp.test/realms/x/protocol/openid-connect/registrations?"+q, nil))
		if w.Code != want {
			t.Errorf("?%s: %d %s, want %d", q, w.Code, w.Body, want)
		}
	}
}

// A discovery document of null is a 502, like any answer that is not an
// object (its rewrite once wrote into a nil map and panicked).
func TestNullDiscoveryDocumentIs502(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, nil, nil)
	h.do(httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/openid-configuration", nil)) // idphooks' own fetch: the real one
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" && r.Header.Get("X-Test-Null") != "" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("null"))
			return
		}
		orig.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/openid-configuration", nil)
	r.Header.Set("X-Test-Null", "1")
	if d := oauthError(t, h.do(r), http.StatusBadGateway, "server_error"); d != "discovery document is not a JSON object" {
		t.Errorf("null discovery document: description %q", d)
	}
}

// Windows-hosted IdPs (IIS) drop a path segment's trailing dots and
// spaces: /token. is their token endpoint, and it meets the hooks.
func TestTrailingDotsAndSpacesCannotSkipHooks(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.TrimRight(r.URL.Path, ". ")
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: denyHook}, {src: `exports.onBeforeUserinfo = (e, api) => api.userinfo.removeClaim("sub_extra")`}}, nil)
	for _, p := range []string{"/token.", "/token..", "/token%2e", "/token%20"} {
		r := httptest.NewRequest(http.MethodPost, "http://idp.test"+p, strings.NewReader(codeForm().Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("web", "secret")
		if w := h.do(r); w.Code != 400 || !strings.Contains(w.Body.String(), "blocked") {
			t.Errorf("%s: %d %s", p, w.Code, w.Body)
		}
	}
}

// awaySwaps is a swap table whose store goes away (a shared Redis that is
// down) after the tokens were issued.
type awaySwaps struct {
	memSwaps
	away *atomic.Bool
}

func (s awaySwaps) Get(ctx context.Context, token string) ([]byte, error) {
	if s.away.Load() {
		return nil, fmt.Errorf("swaps: %w", ErrSwapUnavailable)
	}
	return s.memSwaps.Get(ctx, token)
}

func (s awaySwaps) Put(ctx context.Context, writes ...SwapWrite) error {
	if s.away.Load() {
		return fmt.Errorf("swaps: %w", ErrSwapUnavailable)
	}
	return s.memSwaps.Put(ctx, writes...)
}

// A token of ours that cannot be looked up (the store is away) is never
// sent on unswapped: the IdP would refuse it and the client drop a grant
// that is still good. Every place that swaps answers 503
// temporarily_unavailable, without logging each request; once the store
// is back, the same tokens work.
func TestUnreachableSwapsFailClosed(t *testing.T) {
	idp := newTestIdP(t)
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(idp.jwtAccessToken()))
	}
	var reached []string
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" && r.URL.Path != "/jwks" && !strings.HasPrefix(r.URL.Path, "/.well-known") {
			reached = append(reached, r.URL.Path)
		}
		orig.ServeHTTP(w, r)
	})
	away := new(atomic.Bool)
	core, logs := observer.New(zap.DebugLevel)
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => { api.accessToken.setClaim("tier", "gold"); api.idToken.setClaim("tier", "gold") }`}}, func(c *Config) {
		c.Swaps = awaySwaps{newMemSwaps(t, store.NewMemory()), away}
		c.Logger = zap.New(core)
	})
	tokens := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())
	at, idt := tokens["access_token"].(string), tokens["id_token"].(string)
	if at == "" || idt == "" {
		t.Fatalf("token answer: %v", tokens)
	}
	form := func(method, path string, v url.Values) *http.Request {
		r := httptest.NewRequest(method, "http://idp.test"+path, strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("web", "secret")
		return r
	}
	requests := map[string]func() *http.Request{
		"userinfo (header)": func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
			r.Header.Set("Authorization", "Bearer "+at)
			return r
		},
		"userinfo (form)": func() *http.Request { return form(http.MethodPost, "/userinfo", url.Values{"access_token": {at}}) },
		"introspection":   func() *http.Request { return form(http.MethodPost, "/introspect", url.Values{"token": {at}}) },
		"revocation":      func() *http.Request { return form(http.MethodPost, "/revoke", url.Values{"token": {at}}) },
		"logout (form)":   func() *http.Request { return form(http.MethodPost, "/logout", url.Values{"id_token_hint": {idt}}) },
		"logout (query)": func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "http://idp.test/logout?id_token_hint="+idt, nil)
		},
		"token exchange": func() *http.Request {
			return form(http.MethodPost, "/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {at}})
		},
	}
	away.Store(true)
	for name, req := range requests {
		w := h.do(req())
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"temporarily_unavailable"`) {
			t.Errorf("%s with the store away: %d %s, want 503 temporarily_unavailable", name, w.Code, w.Body)
		}
	}
	if len(reached) > 0 {
		t.Errorf("requests reached the IdP with the store away: %v", reached)
	}
	if w := h.do(tokenRequest(codeForm())); w.Code != http.StatusServiceUnavailable {
		t.Errorf("token with the store away: %d %s", w.Code, w.Body)
	}
	if n := logs.FilterLevelExact(zap.ErrorLevel).Len(); n > 0 {
		t.Errorf("%d error lines for an episode the store logs itself: %v", n, logs.All()[0].Message)
	}
	away.Store(false)
	for name, req := range requests {
		if w := h.do(req()); w.Code == http.StatusServiceUnavailable {
			t.Errorf("%s with the store back: %d %s", name, w.Code, w.Body)
		}
	}
}

// An IdP may merge the query into its parameters: a token of ours sent
// there, at revocation, introspection or a token exchange, reaches it
// swapped as it would in the body. Sent on unswapped, a revocation would
// revoke nothing and still be answered 200.
func TestTokensInTheQueryAreSwapped(t *testing.T) {
	idp := newTestIdP(t)
	upstreamAT := idp.jwtAccessToken()
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(upstreamAT))
	}
	got := map[string]string{}
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/revoke", "/introspect":
			got[r.URL.Path] = r.FormValue("token")
		case "/token":
			if r.FormValue("grant_type") == tokenExchange {
				got["exchange"] = r.FormValue("subject_token")
			}
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	ours := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())["access_token"].(string)
	if ours == upstreamAT {
		t.Fatal("access token not rewritten")
	}
	post := func(path string, query url.Values) {
		r := httptest.NewRequest(http.MethodPost, "http://idp.test"+path+"?"+query.Encode(), strings.NewReader(""))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("web", "secret")
		h.do(r)
	}
	post("/revoke", url.Values{"token": {ours}})
	post("/introspect", url.Values{"token": {ours}})
	post("/token", url.Values{"grant_type": {tokenExchange}, "subject_token": {ours}})
	for _, k := range []string{"/revoke", "/introspect", "exchange"} {
		if got[k] != upstreamAT {
			t.Errorf("%s: the IdP read %.40q from the query, want its own token", k, got[k])
		}
	}
	// Once in the query and once in the body is refused: the IdP may read
	// either.
	r := httptest.NewRequest(http.MethodPost, "http://idp.test/revoke?token="+ours, strings.NewReader("token="+ours))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if w := h.do(r); w.Code != http.StatusBadRequest {
		t.Errorf("token in both query and body at revocation: %d %s", w.Code, w.Body)
	}
}
