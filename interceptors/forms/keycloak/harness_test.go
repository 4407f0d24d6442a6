package keycloak_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/keycloak"
	"github.com/idphooks/idphooks/sandbox"
)

// The pages below follow Keycloak 26.7's keycloak.v2 theme as INTEROP.md
// describes it: the form ids, the field names, where errors sit. The
// browser suite (e2e/keycloak) runs the same paths on the real pages.

const actionQuery = "session_code=SC1&execution=EX1&client_id=web&tab_id=TB1&client_data=CD1"

func fieldError(field, msg string) string {
	if msg == "" {
		return ""
	}
	return `<div id="input-error-` + field + `" class="pf-v5-c-form__helper-text" aria-live="polite"><div class="pf-v5-c-helper-text"><div class="pf-v5-c-helper-text__item pf-m-error"><span class="kc-feedback-text">` + html.EscapeString(msg) + `</span></div></div></div>`
}

func page(title, body string) string { return pageOf("", title, body) }

// pageOf is a page of the theme's template id (data-page-id "login-" and
// the template's name, as keycloak.v2 renders it; "" for none).
func pageOf(id, title, body string) string {
	tag := `<body>`
	if id != "" {
		tag = `<body id="keycloak-bg" class="" data-page-id="` + id + `">`
	}
	return `<!DOCTYPE html><html class="login-pf"><head><meta charset="utf-8"><title>` + title + `</title>` +
		`<link href="/resources/abc12/login/keycloak.v2/css/styles.css" rel="stylesheet"/>` +
		`<script type="module">checkAuthSession("hash");</script></head>` + tag +
		`<div class="pf-v5-c-login__main"><header><h1 id="kc-page-title">` + title + `</h1></header>` + body +
		`</div></body></html>`
}

// loginPage is the username/password page; errMsg sits under username
// as Keycloak puts "Invalid username or password.".
func loginPage(username, errMsg string) string {
	return page("Sign in to acme", `<form id="kc-form-login" onsubmit="login.disabled = true; return true;" action="/realms/acme/login-actions/authenticate?`+html.EscapeString(actionQuery)+`" method="post" novalidate="novalidate">`+
		`<input tabindex="1" id="username" name="username" value="`+html.EscapeString(username)+`" type="text" autocomplete="username" autofocus aria-invalid="">`+
		fieldError("username", errMsg)+
		`<input tabindex="2" id="password" name="password" type="password" autocomplete="current-password">`+
		`<input type="hidden" id="id-hidden-input" name="credentialId"/>`+
		`<button tabindex="4" class="pf-v5-c-button pf-m-primary pf-m-block" name="login" id="kc-login" type="submit">Sign In</button></form>`)
}

func registerPage(v url.Values, field, errMsg string) string {
	input := func(name, typ string) string {
		val := ""
		if typ == "text" {
			val = ` value="` + html.EscapeString(v.Get(name)) + `"`
		}
		e := ""
		if name == field {
			e = fieldError(name, errMsg)
		}
		return `<input type="` + typ + `" id="` + name + `" name="` + name + `"` + val + `>` + e
	}
	return page("Register", `<form id="kc-register-form" class="pf-v5-c-form" action="/realms/acme/login-actions/registration?`+html.EscapeString(actionQuery)+`" method="post" novalidate="novalidate">`+
		input("username", "text")+input("email", "text")+input("firstName", "text")+input("lastName", "text")+
		input("password", "password")+input("password-confirm", "password")+
		`<input class="pf-v5-c-button pf-m-primary pf-m-block" type="submit" value="Register"/></form>`)
}

func resetPage() string {
	return page("Forgot Your Password?", `<form id="kc-reset-password-form" class="pf-v5-c-form" action="/realms/acme/login-actions/reset-credentials?`+html.EscapeString(actionQuery)+`" method="post">`+
		`<input type="text" id="username" name="username" autofocus value="">`+
		`<input class="pf-v5-c-button pf-m-primary" type="submit" value="Submit"/></form>`)
}

// passwordPage is the password step of a username-then-password login
// (login-password.ftl): its form posts the password alone, to the
// password form's execution.
func passwordPage(errMsg string) string {
	return pageOf("login-login-password", "Sign in to acme", `<div id="kc-username"><label id="kc-attempted-username">jane</label></div>`+
		`<form id="kc-form-login" action="/realms/acme/login-actions/authenticate?session_code=SC3&amp;execution=EX2&amp;client_id=web&amp;tab_id=TB1&amp;client_data=CD1" method="post">`+
		`<input tabindex="2" id="password" name="password" type="password" autocomplete="current-password">`+fieldError("password", errMsg)+
		`<button name="login" id="kc-login" type="submit">Sign In</button></form>`)
}

// otpPage is the one-time code step of a login (login-otp.ftl).
func otpPage(errMsg string) string {
	return pageOf("login-login-otp", "Sign in to acme", `<form id="kc-otp-login-form" class="pf-v5-c-form" action="/realms/acme/login-actions/authenticate?`+html.EscapeString(actionQuery)+`" method="post">`+
		`<input id="selectedCredentialId" type="hidden" name="selectedCredentialId" value="cred-1">`+
		`<input id="otp" name="otp" autocomplete="one-time-code" type="text" autofocus>`+fieldError("otp", errMsg)+
		`<input class="pf-v5-c-button" name="login" id="kc-login" type="submit" value="Sign In"/></form>`)
}

// requiredActionPage is a required action's form (the forms of
// login-update-password.ftl, login-config-totp.ftl, ...).
func requiredActionPage(id, formID, execution, inputs, field, errMsg string) string {
	return pageOf(id, "Sign in to acme", `<form id="`+formID+`" class="pf-v5-c-form" action="/realms/acme/login-actions/required-action?session_code=SC2&amp;execution=`+execution+`&amp;client_id=web&amp;tab_id=TB1&amp;client_data=CD1" method="post">`+
		inputs+fieldError(field, errMsg)+`<input class="pf-v5-c-button" type="submit" value="Submit"/></form>`)
}

func passwordUpdatePage(errMsg string) string {
	return requiredActionPage("login-login-update-password", "kc-passwd-update-form", "UPDATE_PASSWORD",
		`<input type="password" id="password-new" name="password-new"><input type="password" id="password-confirm" name="password-confirm">`,
		"password-confirm", errMsg)
}

func totpPage(errMsg string) string {
	return requiredActionPage("login-login-config-totp", "kc-totp-settings-form", "CONFIGURE_TOTP",
		`<input type="text" id="totp" name="totp"><input type="hidden" id="totpSecret" name="totpSecret" value="S3CR3TS3CR3T"><input type="text" id="userLabel" name="userLabel">`,
		"totp", errMsg)
}

// fakeKeycloak answers the login-actions endpoints the way Keycloak does
// on the wire, and records what reached it.
type fakeKeycloak struct {
	mu    sync.Mutex
	users map[string]string // username → password
	seen  []seenRequest
	// current is the required action the session is on; a post of
	// another is sent back to it. "" takes any.
	current string
	// named are the users the username step took, by AUTH_SESSION_ID.
	named map[string]string
	// identity, when set, is the user id of the KEYCLOAK_IDENTITY
	// cookie a required action's success sets, as Keycloak does at a
	// flow's end.
	identity string
}

type seenRequest struct {
	method, uri, body string
}

func newFakeKeycloak() *fakeKeycloak {
	return &fakeKeycloak{users: map[string]string{"jane": "right-password"}}
}

func (k *fakeKeycloak) requests() []seenRequest {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]seenRequest(nil), k.seen...)
}

func (k *fakeKeycloak) posts() int {
	n := 0
	for _, s := range k.requests() {
		if s.method == http.MethodPost {
			n++
		}
	}
	return n
}

func (k *fakeKeycloak) addUser(name, password string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.users[name] = password
}

func (k *fakeKeycloak) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b, _ := io.ReadAll(r.Body)
	k.mu.Lock()
	k.seen = append(k.seen, seenRequest{r.Method, r.URL.RequestURI(), string(b)})
	k.mu.Unlock()
	form, _ := url.ParseQuery(string(b))
	w.Header().Set("Content-Security-Policy", "frame-src 'self'; frame-ancestors 'self'; object-src 'none';")
	w.Header().Set("Set-Cookie", "AUTH_SESSION_ID=abc; Path=/realms/acme/; HttpOnly")
	html := func(s string) error {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		_, err := io.WriteString(w, s)
		return err
	}
	switch strings.TrimPrefix(r.URL.Path, "/realms/acme/login-actions/") {
	case "authenticate":
		if r.Method == http.MethodGet {
			return html(loginPage("", ""))
		}
		var session string
		if c, err := r.Cookie("AUTH_SESSION_ID"); err == nil {
			session = c.Value
		}
		step := r.URL.Query().Get("execution")
		k.mu.Lock()
		named := k.named[session]
		k.mu.Unlock()
		switch {
		case step == "EX2" && named != "" && form.Get("session_code") == "" && r.URL.Query().Get("session_code") == "SC-used":
			// A used session_code: the page of the step the session is on.
			return html(passwordPage(""))
		case step == "EX2" && named != "":
			// The password step: the username posted, if any, is not read.
			k.mu.Lock()
			pw, ok := k.users[named]
			k.mu.Unlock()
			if ok && pw == form.Get("password") {
				w.Header().Set("Location", "http://app.test/cb?code=C&state=S")
				w.WriteHeader(http.StatusFound)
				return nil
			}
			return html(passwordPage("Invalid password."))
		case step == "EX-USERNAME":
			k.mu.Lock()
			_, ok := k.users[form.Get("username")]
			if ok {
				if k.named == nil {
					k.named = map[string]string{}
				}
				k.named[session] = form.Get("username")
			}
			k.mu.Unlock()
			if !ok {
				return html(pageOf("login-login-username", "Sign in to acme", `<form id="kc-form-login" action="/realms/acme/login-actions/authenticate?session_code=SC1&amp;execution=EX-USERNAME&amp;client_id=web&amp;tab_id=TB1" method="post"><input id="username" name="username" value="`+form.Get("username")+`">`+fieldError("username", "Invalid username.")+`</form>`))
			}
			return html(passwordPage(""))
		}
		if form.Has("otp") {
			if form.Get("otp") == "123456" {
				w.Header().Set("Location", "http://app.test/cb?code=C&state=S")
				w.WriteHeader(http.StatusFound)
				return nil
			}
			return html(otpPage("Invalid authenticator code."))
		}
		k.mu.Lock()
		pw, ok := k.users[form.Get("username")]
		k.mu.Unlock()
		if ok && pw == form.Get("password") && strings.HasPrefix(form.Get("username"), "otp-") {
			// A user with a one-time code device: its step follows.
			return html(otpPage(""))
		}
		if ok && pw == form.Get("password") {
			w.Header().Set("Location", "http://app.test/cb?code=C&state=S")
			w.WriteHeader(http.StatusFound)
			return nil
		}
		return html(loginPage(form.Get("username"), "Invalid username or password."))
	case "registration":
		if r.Method == http.MethodGet {
			return html(registerPage(url.Values{}, "", ""))
		}
		k.mu.Lock()
		_, taken := k.users[form.Get("username")]
		k.mu.Unlock()
		if taken {
			return html(registerPage(form, "username", "Username already exists."))
		}
		k.addUser(form.Get("username"), form.Get("password"))
		w.Header().Set("Location", "http://app.test/cb?code=R&state=S")
		w.WriteHeader(http.StatusFound)
		return nil
	case "reset-credentials":
		if r.Method == http.MethodGet {
			return html(resetPage())
		}
		return html(page("Sign in to acme", `<div class="pf-v5-c-alert pf-m-success"><span class="kc-feedback-text">You should receive an email shortly with further instructions.</span></div>`))
	case "required-action":
		execution := r.URL.Query().Get("execution")
		k.mu.Lock()
		current := k.current
		k.mu.Unlock()
		done := func(status string) error {
			if k.identity != "" {
				claims := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"Serialized-ID","sub":"` + k.identity + `"}`))
				w.Header().Add("Set-Cookie", "KEYCLOAK_IDENTITY=eyJhbGciOiJIUzUxMiJ9."+claims+".c2ln; Path=/realms/acme/; HttpOnly")
			}
			w.Header().Set("Location", "http://app.test/cb?code=C&state=S&kc_action="+execution+"&kc_action_status="+status)
			w.WriteHeader(http.StatusFound)
			return nil
		}
		switch {
		case current != "" && execution != current:
			w.Header().Set("Location", "http://kc.test/realms/acme/login-actions/required-action?execution="+current+"&client_id=web&tab_id=TB1")
			w.WriteHeader(http.StatusFound)
			return nil
		case form.Has("cancel-aia"):
			return done("cancelled")
		case form.Has("used"):
			// A session_code used already.
			return html(pageOf("login-login-page-expired", "Page has expired", `<p id="instruction1">To restart the login process click here.</p>`))
		}
		switch execution {
		case "UPDATE_PASSWORD":
			if form.Get("password-new") == "" || form.Get("password-new") != form.Get("password-confirm") {
				return html(passwordUpdatePage("Passwords don't match."))
			}
			return done("success")
		case "CONFIGURE_TOTP":
			if form.Get("totp") != "123456" {
				return html(totpPage("Invalid authenticator code."))
			}
			// The next required action, in the same answer.
			return html(passwordUpdatePage(""))
		case "UPDATE_PROFILE":
			return done("success")
		case "delete_account":
			k.mu.Lock()
			delete(k.users, "jane")
			k.mu.Unlock()
			return html(pageOf("login-info", "", `<div id="kc-info-message"><p class="instruction">User deleted successfully</p></div>`))
		}
	}
	w.WriteHeader(http.StatusNotFound)
	return nil
}

// directory is an in-memory user store of the IdP for lazy migration.
type directory struct {
	k       *fakeKeycloak
	mu      sync.Mutex
	asked   int
	created []forms.NewUser
	fail    error
}

func (d *directory) Known(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	d.asked++
	fail := d.fail
	d.mu.Unlock()
	if fail != nil {
		return false, fail
	}
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	_, ok := d.k.users[id]
	return ok, nil
}

func (d *directory) User(_ context.Context, id string) (map[string]any, error) {
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	if _, ok := d.k.users[id]; !ok {
		return nil, nil
	}
	return map[string]any{"sub": "id-" + id, "username": id, "email": id + "@example.com"}, nil
}

func (d *directory) Create(_ context.Context, u forms.NewUser) error {
	d.mu.Lock()
	d.created = append(d.created, u)
	d.mu.Unlock()
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	if _, ok := d.k.users[u.Username]; ok {
		return forms.ErrUserExists
	}
	d.k.users[u.Username] = u.Password
	return nil
}

type harness struct {
	ic   *forms.Interceptor
	disp *events.Dispatcher
	kc   *fakeKeycloak
	dir  *directory
	logs *observer.ObservedLogs

	mu    sync.Mutex
	async []*events.Event
}

type hookOpt func(*events.HookConfig)

func withApps(apps ...string) hookOpt { return func(c *events.HookConfig) { c.Applications = apps } }
func withMode(m string) hookOpt       { return func(c *events.HookConfig) { c.Mode = m } }
func withOnError(p string) hookOpt    { return func(c *events.HookConfig) { c.OnError = p } }

// newHarness puts the interceptor with the Keycloak profile in front of a
// fake Keycloak, with one hook of src (none when src is "").
func newHarness(t testing.TB, src string, opts ...hookOpt) *harness {
	t.Helper()
	h := &harness{kc: newFakeKeycloak()}
	h.dir = &directory{k: h.kc}
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	log := zap.New(core)
	var hooks []*events.Hook
	if src != "" {
		engine, err := sandbox.New(sandbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "journey.js")
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := events.HookConfig{Path: p, Logger: log}
		for _, o := range opts {
			o(&cfg)
		}
		hk, err := events.Build(engine, cfg)
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, hk)
	}
	disp := events.NewDispatcher(hooks, events.Options{Logger: log, OnAsync: func(_ string, ev *events.Event, _ *sandbox.Result, _ error) {
		h.mu.Lock()
		h.async = append(h.async, ev)
		h.mu.Unlock()
	}})
	t.Cleanup(func() { _ = disp.Close(context.Background()) })
	prof, err := keycloak.New("acme")
	if err != nil {
		t.Fatal(err)
	}
	ic, err := forms.New(forms.Config{Profile: prof, Directory: h.dir, Dispatcher: disp, Logger: log, MaxBody: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h.ic, h.disp = ic, disp
	return h
}

// post sends a form post through the interceptor; ct "" is the browser's
// url-encoded type.
func (h *harness) post(t *testing.T, path, ct, body string) *httptest.ResponseRecorder {
	t.Helper()
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", ct)
	return h.serve(t, r)
}

// postIn is post with the browser's AUTH_SESSION_ID cookie session ("":
// none).
func (h *harness) postIn(t *testing.T, session, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if session != "" {
		r.AddCookie(&http.Cookie{Name: "AUTH_SESSION_ID", Value: session})
	}
	return h.serve(t, r)
}

// asyncEvents waits a moment for n async runs and returns them all.
func (h *harness) asyncEvents(n int) []*events.Event {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		got := len(h.async)
		h.mu.Unlock()
		if got >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*events.Event(nil), h.async...)
}

func (h *harness) serve(t *testing.T, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ic.ServeHTTP(w, r, caddyhttp.HandlerFunc(h.kc.ServeHTTP)); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

// loggedText is every log line with its fields, for leak checks.
func (h *harness) loggedText() string {
	var b strings.Builder
	for _, e := range h.logs.All() {
		fmt.Fprintf(&b, "%s %s", e.Level, e.Message)
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

const (
	loginPath    = "/realms/acme/login-actions/authenticate?" + actionQuery
	registerPath = "/realms/acme/login-actions/registration?" + actionQuery
	actionPath   = "/realms/acme/login-actions/required-action?session_code=SC2&client_id=web&tab_id=TB1&client_data=CD1&execution="
	// The two steps of a username-then-password login.
	usernamePath = "/realms/acme/login-actions/authenticate?session_code=SC1&execution=EX-USERNAME&client_id=web&tab_id=TB1&client_data=CD1"
	passwordPath = "/realms/acme/login-actions/authenticate?session_code=SC3&execution=EX2&client_id=web&tab_id=TB1&client_data=CD1"
	resetPath    = "/realms/acme/login-actions/reset-credentials?" + actionQuery
)
