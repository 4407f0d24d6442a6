package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// logoutIdP is the test IdP answering /logout with answer.
func logoutIdP(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *testIdP {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/logout" {
			answer(w, r)
			return
		}
		orig.ServeHTTP(w, r)
	})
	return idp
}

// logoutHarness is an interceptor whose IdP answers /logout with
// answer, and whose hook tells of every after_logout on the channel.
func logoutHarness(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*harness, chan *events.Event) {
	t.Helper()
	idp := logoutIdP(t, answer)
	return logoutHarnessWith(t, idp, tierHook+"\nexports.onAfterLogout = async (event) => {};")
}

// logoutHarnessWith is a harness in front of idp with the hooks of src,
// whose async runs' events arrive on the channel.
func logoutHarnessWith(t *testing.T, idp *testIdP, src string) (*harness, chan *events.Event) {
	t.Helper()
	var cfg Config
	h := newHarness(t, idp, []hookSpec{{src: src}}, func(c *Config) { cfg = *c })
	got := make(chan *events.Event, 8)
	cfg.Dispatcher = events.NewDispatcher(h.hooks, events.Options{OnAsync: func(_ string, ev *events.Event, _ *sandbox.Result, err error) {
		if err != nil {
			t.Errorf("async run: %v", err)
		}
		got <- ev
	}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	return h, got
}

// upstreamHint is an ID token of the IdP's own, naming session sid,
// expired an hour ago (clients send expired ones as hints).
func (idp *testIdP) upstreamHint(sid string) string {
	now := time.Now()
	return idp.sign(jwt.MapClaims{
		"iss": idp.srv.URL, "sub": "alice", "aud": "web", "azp": "web", "sid": sid, "email": "alice@example.com",
		"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nonce": "n1",
	}, jwt.SigningMethodRS256, idp.key, "JWT")
}

func logoutRequest(hint string) *http.Request {
	q := url.Values{"post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"s1"}}
	if hint != "" {
		q.Set("id_token_hint", hint)
	}
	return httptest.NewRequest(http.MethodGet, "http://idp.test/logout?"+q.Encode(), nil)
}

func redirectBack(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, r.URL.Query().Get("post_logout_redirect_uri")+"?state="+r.URL.Query().Get("state"), http.StatusFound)
}

func nextEvent(t *testing.T, got chan *events.Event) *events.Event {
	t.Helper()
	select {
	case ev := <-got:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no after_logout")
		return nil
	}
}

func noEvent(t *testing.T, got chan *events.Event, why string) {
	t.Helper()
	select {
	case ev := <-got:
		t.Fatalf("%s: after_logout raised: %v", why, ev.Map())
	case <-time.After(200 * time.Millisecond):
	}
}

// A logout the IdP carries out (it redirects back) raises after_logout
// with the person, the client and the session of the verified hint,
// expired or not, the IdP's own or one idphooks rewrote (swapped back).
func TestAfterLogoutRaised(t *testing.T) {
	h, got := logoutHarness(t, redirectBack)
	w := h.do(logoutRequest(h.idp.upstreamHint("s-1")))
	if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "https://rp.example/bye?state=s1") {
		t.Fatalf("the IdP's answer did not pass: %d %v", w.Code, w.Header())
	}
	ev := nextEvent(t, got)
	m := ev.Map()
	user, _ := m["user"].(map[string]any)
	if ev.Type != events.AfterLogout || ev.Application != "web" || m["sid"] != "s-1" || m["protocol"] != "oidc" || user["sub"] != "alice" || user["email"] != "alice@example.com" {
		t.Fatalf("event %v", m)
	}
	for _, k := range []string{"nonce", "exp", "sid", "aud"} {
		if _, ok := user[k]; ok {
			t.Fatalf("protocol claim %s in user: %v", k, user)
		}
	}
	b, _ := json.Marshal(m)
	if strings.Contains(string(b), "eyJ") {
		t.Fatalf("a token is in the event: %s", b)
	}

	ours := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())["id_token"].(string)
	if !h.keys.Owns(peekKid(ours)) {
		t.Fatal("the ID token was not rewritten")
	}
	if w := h.do(logoutRequest(ours)); w.Code != http.StatusFound {
		t.Fatalf("logout with our hint: %d", w.Code)
	}
	if ev := nextEvent(t, got); ev.Map()["user"].(map[string]any)["sub"] != "alice" || ev.Application != "web" {
		t.Fatalf("event %v", ev.Map())
	}
}

// What the IdP answers decides: a goodbye page ends the session, a page
// asking to confirm or an error does not.
func TestAfterLogoutByAnswer(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		raised bool
	}{
		{"goodbye page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<html><body><h1>You are logged out</h1><a href="/">Back</a></body></html>`))
		}, true},
		{"no content", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, true},
		{"confirmation page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!DOCTYPE html><html><body><p>Do you want to sign-out?</p>` +
				`<FORM id="op.logoutForm" Method='POST' action="/session/end/confirm"><input type="hidden" name="xsrf" value="x"/>` +
				`<button name="logout" value="yes">Yes</button></FORM></body></html>`))
		}, false},
		{"error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_request"}`))
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, got := logoutHarness(t, tt.answer)
			w := h.do(logoutRequest(h.idp.upstreamHint("s-1")))
			if w.Code >= 500 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tt.raised {
				nextEvent(t, got)
			} else {
				noEvent(t, got, tt.name)
			}
		})
	}
}

// A hint that does not verify (forged, another issuer's) raises nothing,
// nor does a logout without one; the IdP still gets the request.
func TestAfterLogoutUnverifiedHint(t *testing.T) {
	var reached int
	h, got := logoutHarness(t, func(w http.ResponseWriter, r *http.Request) { reached++; redirectBack(w, r) })
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	forged := h.idp.sign(jwt.MapClaims{"iss": h.idp.srv.URL, "sub": "bob", "aud": "web", "sid": "s-9",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, jwt.SigningMethodRS256, forger, "JWT")
	other := h.idp.sign(jwt.MapClaims{"iss": "https://other.example", "sub": "bob", "aud": "web",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}, jwt.SigningMethodRS256, h.idp.key, "JWT")
	for name, hint := range map[string]string{"forged": forged, "another issuer": other, "none": "", "not a JWT": "opaque"} {
		if w := h.do(logoutRequest(hint)); w.Code != http.StatusFound {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		noEvent(t, got, name)
	}
	if reached != 4 {
		t.Fatalf("the IdP got %d of 4 logouts", reached)
	}
}

// A logout whose after_logout cannot be queued is answered 503 (a page:
// a browser is at the other end) instead of the IdP's redirect, so the
// user retries and the event is raised then.
func TestAfterLogoutNotQueuedFails(t *testing.T) {
	var cfg Config
	idp := logoutIdP(t, redirectBack)
	h := newHarness(t, idp, nil, func(c *Config) { cfg = *c })
	cfg.Dispatcher = events.NewDispatcher(nil, events.Options{Outbox: refusingOutbox{},
		Receivers: []events.Receiver{{Name: "ssf", Events: []string{events.AfterLogout}}}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	w := h.do(logoutRequest(idp.upstreamHint("s-1")))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Location") != "" || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

func TestAsksToConfirm(t *testing.T) {
	html := http.Header{"Content-Type": {"text/html"}}
	for body, want := range map[string]bool{
		`<form method="post" action="/x"></form>`: true,
		`<form method=POST>`:                      true,
		`<form action="/search">`:                 false, // a GET form
		`<p>logged out</p>`:                       false,
		`<p>form method=post</p>`:                 false,
	} {
		if got := asksToConfirm(html, []byte(body)); got != want {
			t.Errorf("%s: %v", body, got)
		}
	}
	if asksToConfirm(http.Header{"Content-Type": {"application/json"}}, []byte(`<form method="post">`)) {
		t.Error("JSON read as a page")
	}
	if !asksToConfirm(http.Header{"Content-Type": {"text/html"}, "Content-Encoding": {"br"}}, nil) {
		t.Error("an unreadable page taken for a goodbye")
	}
}
