package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/keys"
	"github.com/idphooks/idphooks/sandbox"
	"github.com/idphooks/idphooks/store"
)

// testIdP is a minimal token issuer for the cases no real IdP can be made
// to produce: malformed, compressed, oversized or wrongly signed answers.
// The happy paths are tested against real providers in e2e/.
type testIdP struct {
	srv *httptest.Server
	mu  sync.Mutex
	key *rsa.PrivateKey
	kid string
	// forge, if set, signs tokens in place of key (which the JWKS still
	// publishes): a forger's signature under a known kid.
	forge    *rsa.PrivateKey
	jwksHits atomic.Int32
	// token answers the token endpoint; nil means a valid response.
	token func(w http.ResponseWriter, r *http.Request)
	// discoveryDown makes discovery answer 503.
	discoveryDown atomic.Bool
}

var testRSAKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func newTestIdP(t testing.TB) *testIdP {
	idp := &testIdP{key: testRSAKey, kid: "up-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		if idp.discoveryDown.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		base := idp.srv.URL
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"userinfo_endpoint": base + "/userinfo", "jwks_uri": base + "/jwks",
			"introspection_endpoint": base + "/introspect", "revocation_endpoint": base + "/revoke",
			"end_session_endpoint":                  base + "/logout",
			"response_types_supported":              []string{"code", "id_token", "code id_token"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		idp.jwksHits.Add(1)
		idp.mu.Lock()
		k := jose.JSONWebKey{Key: idp.key.Public(), KeyID: idp.kid, Algorithm: "RS256", Use: "sig"}
		idp.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		if idp.token != nil {
			idp.token(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse("opaque-at-123"))
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"sub": "alice", "auth": r.Header.Get("Authorization")})
	})
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		json.NewEncoder(w).Encode(map[string]any{"active": true, "token": r.PostForm.Get("token")})
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *testIdP) sign(claims jwt.MapClaims, method jwt.SigningMethod, key crypto.PrivateKey, typ string) string {
	tok := jwt.NewWithClaims(method, claims)
	idp.mu.Lock()
	tok.Header["kid"] = idp.kid
	idp.mu.Unlock()
	if typ != "" {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

// signingKey is what tokens are signed with now.
func (idp *testIdP) signingKey() *rsa.PrivateKey {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.forge != nil {
		return idp.forge
	}
	return idp.key
}

func (idp *testIdP) idToken() string {
	now := time.Now()
	return idp.sign(jwt.MapClaims{
		"iss": idp.srv.URL, "sub": "alice", "aud": "web", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "nonce": "n1", "email": "alice@example.com",
	}, jwt.SigningMethodRS256, idp.signingKey(), "JWT")
}

func (idp *testIdP) jwtAccessToken() string {
	now := time.Now()
	return idp.sign(jwt.MapClaims{
		"iss": idp.srv.URL, "sub": "alice", "aud": "api", "client_id": "web",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "j1", "scope": "openid",
	}, jwt.SigningMethodRS256, idp.signingKey(), "at+jwt")
}

func (idp *testIdP) tokenResponse(at string) []byte {
	b, _ := json.Marshal(map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": 300,
		"id_token": idp.idToken(), "refresh_token": "rt-1", "scope": "openid email",
	})
	return b
}

// harness is an interceptor in front of a testIdP, with a real reverse
// proxy as the next handler.
type harness struct {
	idp  *testIdP
	ic   *Interceptor
	keys *keys.Manager
	next caddyhttp.Handler

	engine *sandbox.Engine
	hooks  []*events.Hook
}

type hookSpec struct {
	src     string
	onError events.Policy
	timeout time.Duration
	apps    []string
}

func newHarness(t testing.TB, idp *testIdP, hooks []hookSpec, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessAlg(t, idp, hooks, mod, "ES256")
}

// newHarnessAlg is newHarness with idphooks signing with alg.
func newHarnessAlg(t testing.TB, idp *testIdP, hooks []hookSpec, mod func(*Config), alg string) *harness {
	t.Helper()
	km, err := keys.New(context.Background(), keys.NewMemoryStorage(), keys.Config{Algorithm: alg}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	engine, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hs []*events.Hook
	dir := t.TempDir()
	for n, h := range hooks {
		path := dir + "/hook" + string(rune('a'+n)) + ".js"
		if err := writeFile(path, h.src); err != nil {
			t.Fatal(err)
		}
		compiled, err := engine.Compile(path, sandbox.HookOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, &events.Hook{Name: path, Runner: compiled, OnError: h.onError, Timeout: h.timeout, Applications: h.apps})
	}
	cfg := Config{
		Upstream:            NewUpstream(idp.srv.URL, 0),
		PublishUpstreamKeys: true,
		Dispatcher:          events.NewDispatcher(hs, events.Options{Budget: 500 * time.Millisecond}),
		Signer:              km,
		Swaps:               newMemSwaps(t, store.NewMemory()),
	}
	if mod != nil {
		mod(&cfg)
	}
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(idp.srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rp.ServeHTTP(w, r)
		return nil
	})
	return &harness{idp: idp, ic: ic, keys: km, next: next, engine: engine, hooks: hs}
}

type memSwaps struct{ s *store.Swaps }

// newMemSwaps is the swap table without a secret in s.
func newMemSwaps(t testing.TB, s store.Store) memSwaps {
	t.Helper()
	w, err := store.NewSwaps(s, store.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return memSwaps{w}
}

func (m memSwaps) Put(ctx context.Context, writes ...SwapWrite) error {
	for _, w := range writes {
		if err := m.s.Put(ctx, w.Token, w.Value, w.Exp); err != nil {
			return err
		}
	}
	return nil
}

func (m memSwaps) Get(ctx context.Context, token string) ([]byte, error) {
	b, err := m.s.Get(ctx, token)
	if err == store.ErrNotFound {
		return nil, ErrSwapNotFound
	}
	return b, err
}

// do sends a request through the interceptor; a handler error becomes its
// status, as Caddy would answer.
func (h *harness) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	if err := h.ic.ServeHTTP(w, r, h.next); err != nil {
		if he, ok := err.(caddyhttp.HandlerError); ok {
			w.Code = he.StatusCode
		} else {
			w.Code = 500
		}
		w.Body.WriteString("handler error: " + err.Error())
	}
	return w
}

func tokenRequest(form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://idp.test/token", stringsReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("web", "secret")
	return r
}

func codeForm() url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {"c1"}, "redirect_uri": {"http://rp/cb"}}
}
