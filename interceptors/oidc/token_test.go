package oidc

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const tierHook = `exports.onBeforeToken = async (event, api) => {
  api.idToken.setClaim("tier", "gold");
  api.accessToken.setClaim("tier", "gold");
};`

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// verifyOurs checks a token against idphooks' published keys.
func verifyOurs(t *testing.T, h *harness, tok string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser().ParseWithClaims(tok, claims, h.keys.Keyfunc); err != nil {
		t.Fatalf("token does not verify with idphooks keys: %v", err)
	}
	return claims
}

func TestTokenRewriteAndOpaqueAccessToken(t *testing.T) {
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: tierHook}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	resp := decodeJSON(t, w.Body.Bytes())
	// The opaque access token cannot carry claims; it passes unchanged and
	// the hook's accessToken edit is only logged.
	if resp["access_token"] != "opaque-at-123" || resp["refresh_token"] != "rt-1" || resp["scope"] != "openid email" {
		t.Fatalf("other fields changed: %v", resp)
	}
	c := verifyOurs(t, h, resp["id_token"].(string))
	if c["tier"] != "gold" || c["sub"] != "alice" || c["nonce"] != "n1" {
		t.Fatalf("claims: %v", c)
	}
	if w.Header().Get("Content-Length") != itoa(w.Body.Len()) {
		t.Errorf("Content-Length %q for %d bytes", w.Header().Get("Content-Length"), w.Body.Len())
	}
}

func TestJWTAccessTokenRewriteAndSwapBack(t *testing.T) {
	idp := newTestIdP(t)
	upstreamAT := idp.jwtAccessToken()
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(upstreamAT))
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	resp := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())
	ours := resp["access_token"].(string)
	if ours == upstreamAT {
		t.Fatal("JWT access token not rewritten")
	}
	hdr, _ := peekHeader(ours)
	if hdr["typ"] != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt kept", hdr["typ"])
	}
	if c := verifyOurs(t, h, ours); c["tier"] != "gold" || c["client_id"] != "web" {
		t.Errorf("claims: %v", c)
	}
	// at_hash is not in this ID token, so none is added.
	if c := verifyOurs(t, h, resp["id_token"].(string)); c["at_hash"] != nil {
		t.Errorf("at_hash appeared: %v", c)
	}

	// Userinfo and introspection reach the IdP with its own token.
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
	r.Header.Set("Authorization", "Bearer "+ours)
	ui := decodeJSON(t, h.do(r).Body.Bytes())
	if ui["auth"] != "Bearer "+upstreamAT {
		t.Errorf("IdP got %v at userinfo", ui["auth"])
	}
	if ui["tier"] != "gold" {
		t.Errorf("userinfo lacks the ID token's hook claim: %v", ui)
	}
	r = httptest.NewRequest(http.MethodPost, "http://idp.test/introspect", strings.NewReader("token="+ours))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if in := decodeJSON(t, h.do(r).Body.Bytes()); in["token"] != upstreamAT {
		t.Errorf("IdP got %v at introspection", in["token"])
	}
}

func TestBadUpstreamTokenResponses(t *testing.T) {
	otherKey := testRSAKey
	cases := []struct {
		name   string
		answer func(idp *testIdP) func(http.ResponseWriter, *http.Request)
		status int
		want   string
	}{
		{"malformed JSON", body("application/json", `{"access_token": "x", `), 502, "server_error"},
		{"JSON array", body("application/json", `["x"]`), 502, "server_error"},
		{"HTML instead of JSON", body("text/html", `<html>oops</html>`), 502, "server_error"},
		{"no access_token", body("application/json", `{"token_type":"Bearer"}`), 502, "server_error"},
		{"access_token not a string", body("application/json", `{"access_token":42}`), 502, "server_error"},
		{"id_token with bad signature", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			tok := idp.idToken()
			bad := tok[:len(tok)-4] + "AAAA"
			return body("application/json", `{"access_token":"a","id_token":"`+bad+`"}`)(idp)
		}, 502, "server_error"},
		{"id_token signed HS256", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "web", "exp": time.Now().Add(time.Hour).Unix()},
				jwt.SigningMethodHS256, []byte("client-secret"), "")
			return body("application/json", `{"access_token":"a","id_token":"`+tok+`"}`)(idp)
		}, 502, "server_error"},
		{"id_token expired", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "web", "exp": time.Now().Add(-time.Hour).Unix()},
				jwt.SigningMethodRS256, otherKey, "")
			return body("application/json", `{"access_token":"a","id_token":"`+tok+`"}`)(idp)
		}, 502, "server_error"},
		{"id_token from another issuer", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": "https://evil.example", "sub": "alice", "aud": "web", "exp": time.Now().Add(time.Hour).Unix()},
				jwt.SigningMethodRS256, otherKey, "")
			return body("application/json", `{"access_token":"a","id_token":"`+tok+`"}`)(idp)
		}, 502, "server_error"},
		{"id_token for another client", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			tok := idp.sign(jwt.MapClaims{"iss": idp.srv.URL, "sub": "alice", "aud": "other", "exp": time.Now().Add(time.Hour).Unix()},
				jwt.SigningMethodRS256, otherKey, "")
			return body("application/json", `{"access_token":"a","id_token":"`+tok+`"}`)(idp)
		}, 502, "server_error"},
		{"brotli body", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "br")
				w.Write([]byte{0x1b, 0x00})
			}
		}, 502, "server_error"},
		{"oversized body", body("application/json", `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`), 502, "too large"},
		{"gzip bomb", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(bytes.Repeat([]byte(" "), 64<<20))
			zw.Close()
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(buf.Bytes())
			}
		}, 502, "server_error"},
		{"upstream error passes through", func(idp *testIdP) func(http.ResponseWriter, *http.Request) {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(400)
				w.Write([]byte(`{"error":"invalid_grant"}`))
			}
		}, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idp := newTestIdP(t)
			idp.token = tc.answer(idp)
			h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
			w := h.do(tokenRequest(codeForm()))
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("got %d %s, want %d with %q", w.Code, w.Body, tc.status, tc.want)
			}
			if tc.status == http.StatusBadGateway {
				oauthError(t, w, http.StatusBadGateway, "server_error")
			}
		})
	}
}

func body(ct, s string) func(*testIdP) func(http.ResponseWriter, *http.Request) {
	return func(*testIdP) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.Write([]byte(s))
		}
	}
}

func TestGzipUpstreamIsDecoded(t *testing.T) {
	idp := newTestIdP(t)
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(idp.tokenResponse("opaque"))
		zw.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(buf.Bytes())
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if c := verifyOurs(t, h, decodeJSON(t, w.Body.Bytes())["id_token"].(string)); c["tier"] != "gold" {
		t.Fatalf("claims %v", c)
	}
}

func TestHookFailurePolicies(t *testing.T) {
	cases := []struct {
		name   string
		hook   hookSpec
		status int
		tier   any
	}{
		{"throw, deny", hookSpec{src: `exports.onBeforeToken = () => { throw new Error("crm down secret=abc") }`}, 400, nil},
		{"throw, continue", hookSpec{src: `exports.onBeforeToken = (e, api) => { api.idToken.setClaim("tier","x"); throw "boom" }`, onError: "continue"}, 200, nil},
		{"infinite loop, deny", hookSpec{src: `exports.onBeforeToken = () => { for(;;){} }`, timeout: 50 * time.Millisecond}, 400, nil},
		{"rejected promise, continue", hookSpec{src: `exports.onBeforeToken = async () => { await Promise.reject(new Error("no")) }`, onError: "continue"}, 200, nil},
		{"other application", hookSpec{src: tierHook, apps: []string{"another-app"}}, 200, nil},
		{"this application", hookSpec{src: tierHook, apps: []string{"web"}}, 200, "gold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newTestIdP(t), []hookSpec{tc.hook}, nil)
			start := time.Now()
			w := h.do(tokenRequest(codeForm()))
			if time.Since(start) > 5*time.Second {
				t.Fatal("request hung")
			}
			if w.Code != tc.status {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			resp := decodeJSON(t, w.Body.Bytes())
			if tc.status != 200 {
				if resp["error"] != "access_denied" || strings.Contains(w.Body.String(), "secret=abc") {
					t.Fatalf("deny body leaks or is wrong: %s", w.Body)
				}
				return
			}
			c := jwt.MapClaims{}
			jwt.NewParser().ParseUnverified(resp["id_token"].(string), c)
			if c["tier"] != tc.tier {
				t.Fatalf("tier = %v, want %v", c["tier"], tc.tier)
			}
		})
	}
}

// While discovery is down every request is a 502 (fail closed) that says
// so in OAuth terms, retry-worthy: idphooks refetches discovery itself.
// The outage is logged once per failed fetch, not once per request.
func TestDiscoveryDownFailsClosed(t *testing.T) {
	idp := newTestIdP(t)
	idp.discoveryDown.Store(true)
	core, logs := observer.New(zap.InfoLevel)
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, func(c *Config) { c.Logger = zap.New(core) })
	for _, r := range []*http.Request{
		tokenRequest(codeForm()),
		httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil),
		// A browser page gets the same answer; there is no other to give.
		httptest.NewRequest(http.MethodGet, "http://idp.test/authorize?client_id=web&response_type=code", nil),
	} {
		w := h.do(r)
		if d := oauthError(t, w, http.StatusBadGateway, "temporarily_unavailable"); d != "identity provider discovery unavailable" {
			t.Errorf("%s: description %q", r.URL.Path, d)
		}
		if strings.Contains(w.Body.String(), idp.srv.URL) || strings.Contains(w.Body.String(), "503") {
			t.Errorf("the cause reached the client: %s", w.Body)
		}
	}
	if n := logs.FilterMessage("upstream discovery unavailable; refusing traffic").Len(); n != 1 {
		t.Errorf("%d error lines for 3 requests and one failed fetch, want 1", n)
	}
	// Once discovery is back (after the retry delay), traffic flows again,
	// and the log says so once.
	idp.discoveryDown.Store(false)
	h.ic.up.SetRetryAfter(-1)
	for range 2 {
		if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
			t.Fatalf("status %d after recovery: %s", w.Code, w.Body)
		}
	}
	if n := logs.FilterMessage("upstream discovery available again").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

func TestUnknownKidRefetchesOnceCollapsed(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	before := idp.jwksHits.Load()
	// The IdP rotates: same key material, new kid.
	idp.mu.Lock()
	idp.kid = "up-2"
	idp.mu.Unlock()
	h.ic.up.Keys.MinRefresh = 0
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- h.do(tokenRequest(codeForm())).Code
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("status %d after upstream key rotation", c)
		}
	}
	if hits := idp.jwksHits.Load() - before; hits < 1 || hits > 2 {
		t.Fatalf("JWKS fetched %d times for 8 concurrent requests with a new kid", hits)
	}
}

func TestPassThroughStreams(t *testing.T) {
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: tierHook}}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ic.ServeHTTP(w, r, h.next)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	done := make(chan error, 1)
	go func() { _, err := resp.Body.Read(buf); done <- err }()
	select {
	case err := <-done:
		if err != nil || string(buf) != "first" {
			t.Fatalf("read %q %v", buf, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pass-through response was buffered: first chunk never arrived")
	}
}

func TestDiscoveryAndJWKSRewrite(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, nil, func(c *Config) { c.PublishUpstreamKeys = false })
	r := httptest.NewRequest(http.MethodGet, "https://auth.example.com/.well-known/openid-configuration", nil)
	d := decodeJSON(t, h.do(r).Body.Bytes())
	if d["issuer"] != idp.srv.URL {
		t.Errorf("issuer changed without config: %v", d["issuer"])
	}
	if d["token_endpoint"] != "https://auth.example.com/token" || d["jwks_uri"] != "https://auth.example.com/.well-known/idphooks/jwks.json" {
		t.Errorf("endpoints not on the public origin: %v", d)
	}
	if rts := d["response_types_supported"].([]any); len(rts) != 1 || rts[0] != "code" {
		t.Errorf("front-channel ID token response types kept: %v", rts)
	}
	if algs := d["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
		t.Errorf("algs = %v", algs)
	}
	w := h.do(httptest.NewRequest(http.MethodGet, "https://auth.example.com/.well-known/idphooks/jwks.json", nil))
	var set struct{ Keys []map[string]any }
	json.Unmarshal(w.Body.Bytes(), &set)
	if len(set.Keys) != 1 || set.Keys[0]["d"] != nil || set.Keys[0]["alg"] != "ES256" {
		t.Errorf("JWKS = %s", w.Body)
	}
	// The upstream's own jwks path serves the same set.
	if w2 := h.do(httptest.NewRequest(http.MethodGet, "https://auth.example.com/jwks", nil)); w2.Body.String() != w.Body.String() {
		t.Errorf("upstream jwks path serves %s", w2.Body)
	}
}

// A compressed answer that no hook changes goes out as it came, encoding
// header included.
func TestGzipUnchangedPassesAsIs(t *testing.T) {
	idp := newTestIdP(t)
	var sent []byte
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(idp.tokenResponse("opaque"))
		zw.Close()
		sent = buf.Bytes()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(sent)
	}
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = async () => {}`}}, nil)
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(w.Body.Bytes(), sent) {
		t.Fatalf("%d %v: body changed or lost its encoding", w.Code, w.Header())
	}
}

// An encrypted ID token cannot be read: it passes unchanged, the rest of
// the answer is still handled.
func TestEncryptedIDTokenPasses(t *testing.T) {
	idp := newTestIdP(t)
	jwe := "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"
	idp.token = body("application/json", `{"access_token":"`+idp.jwtAccessToken()+`","id_token":"`+jwe+`"}`)(idp)
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	w := h.do(tokenRequest(codeForm()))
	resp := decodeJSON(t, w.Body.Bytes())
	if w.Code != 200 || resp["id_token"] != jwe {
		t.Fatalf("%d %v", w.Code, resp)
	}
	if c := verifyOurs(t, h, resp["access_token"].(string)); c["tier"] != "gold" {
		t.Fatalf("access token claims %v", c)
	}
}

func TestSpliceTokens(t *testing.T) {
	splice := func(body, at, id string) string {
		t.Helper()
		f, err := tokenFields([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return string(spliceTokens([]byte(body), f, at, id))
	}
	// Every other byte stays where the IdP wrote it, in either field order.
	if got, want := splice(`{"token_type":"Bearer","access_token":"A1", "id_token":"I1","x":{"keep":[1,2]}}`, "A2", "I2"),
		`{"token_type":"Bearer","access_token":"A2", "id_token":"I2","x":{"keep":[1,2]}}`; got != want {
		t.Fatalf("got %s", got)
	}
	if got, want := splice(`{"id_token":"I1" ,"access_token":"A1"}`, "A2", "I22"), `{"id_token":"I22" ,"access_token":"A2"}`; got != want {
		t.Fatalf("got %s", got)
	}
	// The same text in another field stays; an escaped token is replaced
	// whole; an unchanged or empty new token leaves its field alone.
	for body, want := range map[string]string{
		`{"refresh_token":"T","access_token":"T"}`:         `{"refresh_token":"T","access_token":"N"}`,
		`{"access_token":"\u0054","scope":"a\/b"}`:         `{"access_token":"N","scope":"a\/b"}`,
		`{"access_token":"T","id_token":"I","scope":"s"}`:  `{"access_token":"N","id_token":"I","scope":"s"}`,
		`{"access_token":"T","id_token":null,"scope":"s"}`: `{"access_token":"N","id_token":null,"scope":"s"}`,
	} {
		if got := splice(body, "N", ""); got != want {
			t.Fatalf("%s → %s, want %s", body, got, want)
		}
	}
}

// tokenFields is strict where a lenient reader would let idphooks and the
// client see different tokens.
func TestTokenFieldsRefuses(t *testing.T) {
	for _, body := range []string{
		``, `null`, `[]`, `"x"`, `{"access_token":"a"`, `{"access_token":"a"}{}`, `{"access_token":"a"} x`,
		`{"access_token":"a","access_token":"b"}`, `{"access_token":1}`, `{"id_token":{}}`, `{"scope":["a"]}`,
		"{\"access_token\":\"a\xff\"}", `{"access_token":"a\udc00"}`, `{"access_token":"a",}`,
		// Go clients match names without case and keep the last.
		`{"access_token":"A","ACCESS_TOKEN":"B"}`, `{"Access_Token":"A"}`, `{"access_token":"A","Id_Token":"x"}`,
		`{"id_token":"a","id\u005ftoken":"b"}`, `{"access_token":"a","expires_in":1,"expires_in":2}`,
	} {
		if f, err := tokenFields([]byte(body)); err == nil {
			t.Errorf("%q accepted: %+v", body, f)
		}
	}
	f, err := tokenFields([]byte(` {"access_token":"a","id_token":null,"expires_in":"300","x":[{"y":1}]} ` + "\n"))
	if err != nil || f.AccessToken != "a" || f.IDToken != "" || string(f.ExpiresIn) != `"300"` {
		t.Fatalf("%+v %v", f, err)
	}
	// What idphooks does not read is the IdP's business: repeated names
	// or invalid UTF-8 there pass as they are.
	body := "{\"authorization_details\":[{\"t\":1,\"t\":2}],\"access_token\":\"a\",\"note\":\"\xff\",\"refresh_token\":\"r\",\"refresh_token\":\"r\"}"
	if f, err = tokenFields([]byte(body)); err != nil || f.AccessToken != "a" {
		t.Fatalf("%+v %v", f, err)
	}
}

// Swap entries are written without reflection but read with
// json.Unmarshal: both must agree, whatever the strings hold.
func TestSwapEntryJSON(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{"u":1}`, `{"u":"a"`, `{"e":{}}`, `{"u":"a","u":"b"}`, `{"u":"a"}x`, `{"u":"a"}{}`} {
		if e, err := readSwapEntry([]byte(bad)); err == nil {
			t.Errorf("%q read as %+v", bad, e)
		}
	}
	// Members a later version may add are skipped.
	if e, err := readSwapEntry([]byte(`{"x":[1,{"y":2}],"u":"a\/b","c":null,"e":null}`)); err != nil || e.Upstream != "a/b" {
		t.Errorf("%+v %v", e, err)
	}
	for _, e := range []swapEntry{
		{},
		{Upstream: "a.b.c"},
		{ClientID: "web"},
		{Upstream: "a.b-_c", ClientID: `we"b\<&>` + "\u2028\x01é"},
		{ClientID: "web", IDTokenEdits: []claimEdit{{Name: "tier", Value: "gold"}, {Name: "x", Remove: true}, {Name: "n", Value: json.Number("1.5")}, {Name: "s", Value: "<\\x\""}, {Name: "b", Value: false}, {Name: "z", Value: ""}}},
		{Upstream: "u", IDTokenEdits: []claimEdit{{Name: "m", Value: map[string]any{"a": []any{1.0, "b"}}}}},
		{Upstream: "u", ClientID: "web", AccessTokenEdits: []claimEdit{{Name: "roles", Value: []any{}}, {Name: "email", Remove: true}}},
	} {
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		// Read back in one pass as json.Unmarshal reads it.
		var std swapEntry
		read, err := readSwapEntry(b)
		if err != nil || json.Unmarshal(b, &std) != nil || !reflect.DeepEqual(*read, std) {
			t.Fatalf("%s: read %+v (%v), json.Unmarshal reads %+v", b, read, err, std)
		}
	}
}

// The IdP replaces its key under the same kid: the first token signed by
// the new key refetches the keys (as a relying party would) instead of
// failing until the cached set expires; a forged signature refetches at
// most every MinRefresh and stays a 502.
func TestSameKidNewKeyRefetches(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, nil)
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("warm-up: %d %s", w.Code, w.Body)
	}
	fresh, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp.mu.Lock()
	old := idp.key
	idp.key = fresh
	idp.mu.Unlock()
	h.ic.up.Keys.MinRefresh = 0
	before := idp.jwksHits.Load()
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("status %d after the IdP replaced its key under the same kid: %s", w.Code, w.Body)
	}
	if hits := idp.jwksHits.Load() - before; hits != 1 {
		t.Fatalf("JWKS fetched %d times", hits)
	}

	// Tokens signed by a key the IdP does not publish (the old one, as a
	// forger holding it would): 502, and with the default MinRefresh no
	// more than one refetch for many of them.
	idp.mu.Lock()
	idp.forge = old
	idp.mu.Unlock()
	h.ic.up.Keys.MinRefresh = time.Hour
	before = idp.jwksHits.Load()
	for range 5 {
		if w := h.do(tokenRequest(codeForm())); w.Code != http.StatusBadGateway {
			t.Fatalf("forged signature: status %d", w.Code)
		}
	}
	if hits := idp.jwksHits.Load() - before; hits > 1 {
		t.Fatalf("forged signatures made %d JWKS fetches", hits)
	}
}
