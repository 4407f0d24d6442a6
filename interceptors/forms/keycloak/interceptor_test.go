package keycloak_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestNoHookPassesUntouched(t *testing.T) {
	h := newHarness(t, "")
	body := "username=jane&password=wrong&credentialId="
	w := h.post(t, loginPath, "", body)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Invalid username or password.") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	seen := h.kc.requests()
	if len(seen) != 1 || seen[0].body != body || seen[0].uri != loginPath {
		t.Fatalf("the IdP got %+v", seen)
	}
	// Not read, so not refused: a repeated field is the IdP's business.
	w = h.post(t, loginPath, "", "username=a&username=b&password=x")
	if w.Code != http.StatusOK {
		t.Fatalf("repeated field without a hook: %d", w.Code)
	}
	if h.dir.asked != 0 {
		t.Fatal("the directory was asked with no hook")
	}
}

func TestHookOnOtherEventPassesUntouched(t *testing.T) {
	// A hook on before_password_reset only: login posts are not read
	// (with a registration hook they are: Keycloak registers a
	// registration posted to the login endpoint).
	h := newHarness(t, `exports.onBeforePasswordReset = function(e, api) { api.deny("no") }`)
	w := h.post(t, loginPath, "multipart/form-data; boundary=x", "--x--")
	if w.Code != http.StatusOK || h.kc.posts() != 1 {
		t.Fatalf("got %d, IdP posts %d", w.Code, h.kc.posts())
	}
}

func TestAfterIdentificationDeny(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) {
		if (e.identifier === "blocked") api.deny("This account is blocked <b>now</b>.");
	}`)
	w := h.post(t, loginPath, "", "username=blocked&password=s3cret-pass&credentialId=")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := w.Body.String()
	if !strings.Contains(got, `<div class="pf-v5-c-alert pf-m-inline pf-v5-u-mb-md pf-m-danger" role="alert"><span class="pf-v5-c-alert__title kc-feedback-text">This account is blocked &lt;b&gt;now&lt;/b&gt;.</span></div><form id="kc-form-login"`) {
		t.Fatalf("the reason is not where Keycloak shows errors:\n%s", got)
	}
	if !strings.Contains(got, `name="username" value="blocked"`) {
		t.Fatalf("the typed username is not kept:\n%s", got)
	}
	if strings.Contains(got, "s3cret-pass") {
		t.Fatal("the password is on the page")
	}
	if !strings.Contains(got, `id="kc-form-login"`) || !strings.Contains(got, "keycloak.v2/css/styles.css") {
		t.Fatal("the page is not Keycloak's own")
	}
	if w.Header().Get("Content-Security-Policy") == "" || w.Header().Get("Set-Cookie") == "" {
		t.Fatalf("the IdP's CSP and cookies are lost: %v", w.Header())
	}
	seen := h.kc.requests()
	if len(seen) != 1 || seen[0].method != http.MethodGet {
		t.Fatalf("the denied post reached the IdP: %+v", seen)
	}
	q, _ := url.ParseQuery(strings.SplitN(seen[0].uri, "?", 2)[1])
	if q.Has("session_code") || q.Get("execution") != "EX1" || q.Get("tab_id") != "TB1" || q.Get("client_id") != "web" {
		t.Fatalf("the page was asked for with %s", seen[0].uri)
	}

	// The customer tries again with another name: it reaches Keycloak.
	w = h.post(t, loginPath, "", "username=jane&password=right-password&credentialId=")
	if w.Code != http.StatusFound {
		t.Fatalf("retry: %d", w.Code)
	}
	if strings.Contains(h.loggedText(), "s3cret-pass") || strings.Contains(h.loggedText(), "right-password") {
		t.Fatal("a password is in the log")
	}
}

func TestAfterIdentificationRedirect(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) {
		api.redirect("https://brand.example/help?u=" + encodeURIComponent(e.identifier));
	}`)
	w := h.post(t, loginPath, "", "username=jane&password=x")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://brand.example/help?u=jane" {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	if h.kc.posts() != 0 {
		t.Fatal("a redirected post reached the IdP")
	}
}

func TestRedirectRefusedShowsGenericMessage(t *testing.T) {
	for _, to := range []string{"javascript:alert(1)", "//evil.example/", "http://evil.example/", "https://a.example/\r\nSet-Cookie: x=1", `/\evil.example`, "https://user@a.example/", "data:text/html,x"} {
		h := newHarness(t, `exports.onAfterIdentification = function(e, api) { api.redirect(`+jsString(to)+`) }`)
		w := h.post(t, loginPath, "", "username=jane&password=x")
		if w.Code != http.StatusOK || w.Header().Get("Location") != "" {
			t.Fatalf("%q: got %d %v", to, w.Code, w.Header())
		}
		if !strings.Contains(w.Body.String(), "Something went wrong. Please try again.") {
			t.Fatalf("%q: no generic message:\n%s", to, w.Body)
		}
		if strings.Contains(w.Body.String(), "URL") || strings.Contains(w.Body.String(), "evil") {
			t.Fatalf("%q: the hook's error reached the page", to)
		}
		if h.kc.posts() != 0 {
			t.Fatalf("%q: the post reached the IdP", to)
		}
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func TestFailedHookOnErrorContinue(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) { throw new Error("db down: secret detail") }`, withOnError("continue"))
	w := h.post(t, loginPath, "", "username=jane&password=right-password")
	if w.Code != http.StatusFound {
		t.Fatalf("on_error continue: %d", w.Code)
	}
	h = newHarness(t, `exports.onAfterIdentification = function(e, api) { throw new Error("db down: secret detail") }`)
	w = h.post(t, loginPath, "", "username=jane&password=right-password")
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "secret detail") ||
		!strings.Contains(w.Body.String(), "Something went wrong. Please try again.") {
		t.Fatalf("on_error deny: %d\n%s", w.Code, w.Body)
	}
	if h.kc.posts() != 0 {
		t.Fatal("the post reached the IdP")
	}
}

func TestPasswordStepSkipsIdentification(t *testing.T) {
	// Username-then-password: the second post has no username.
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) { api.deny("x") }`)
	w := h.post(t, loginPath, "", "password=x&credentialId=")
	if w.Code != http.StatusOK || h.kc.posts() != 1 {
		t.Fatalf("password step: %d, posts %d", w.Code, h.kc.posts())
	}
}

func TestEventShowsNoPassword(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) {
		api.deny(JSON.stringify({id: e.identifier, form: e.form, type: e.form_type, app: e.application}));
	}`)
	w := h.post(t, loginPath, "", "username=jane&password=hunter2-pass&credentialId=&my_password2=also-secret")
	got := w.Body.String()
	for _, s := range []string{"hunter2-pass", "also-secret"} {
		if strings.Contains(got, s) {
			t.Fatalf("%s reached the event:\n%s", s, got)
		}
	}
	for _, s := range []string{`&#34;id&#34;:&#34;jane&#34;`, `&#34;password&#34;:&#34;[redacted]&#34;`, `&#34;type&#34;:&#34;login&#34;`, `&#34;app&#34;:&#34;web&#34;`} {
		if !strings.Contains(got, s) {
			t.Fatalf("event lacks %s:\n%s", s, got)
		}
	}
}

func TestAsyncHookNeverSeesPassword(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e) {}
exports.onBeforePasswordValidation = function(e) {}`, withMode("async"))
	h.post(t, loginPath, "", "username=newbie&password=legacy-pass")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n := len(h.async)
		h.mu.Unlock()
		if n >= 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.async) != 1 || h.async[0].Type != "after_identification" {
		t.Fatalf("async runs: %v", h.async)
	}
	if strings.Contains(mapText(h.async[0].Map()), "legacy-pass") {
		t.Fatal("an async event holds the password")
	}
}

func mapText(m map[string]any) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				b.WriteString(k + "=")
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		case string:
			b.WriteString(t + ";")
		}
	}
	walk(m)
	return b.String()
}

func TestUnreadablePostsAreRefused(t *testing.T) {
	const hook = `exports.onAfterIdentification = function(e, api) { if (e.identifier === "evil") api.deny("no") }`
	big := "username=jane&password=" + strings.Repeat("x", 70<<10)
	for _, c := range []struct {
		name, ct, body string
		status         int
	}{
		{"repeated username", "", "username=jane&username=evil&password=x", http.StatusBadRequest},
		{"repeated with encoding", "", "username=jane&user%6Eame=evil&password=x", http.StatusBadRequest},
		{"repeated other field", "", "username=evil&password=x&password=y", http.StatusBadRequest},
		{"multipart", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nevil\r\n--b--\r\n", http.StatusUnsupportedMediaType},
		{"json", "application/json", `{"username":"evil"}`, http.StatusUnsupportedMediaType},
		{"latin-1", "application/x-www-form-urlencoded; charset=ISO-8859-1", "username=%E9vil&password=x", http.StatusUnsupportedMediaType},
		// Keycloak decodes the body in the charset it finds, by a parser
		// of its own: these read as UTF-16 there ("evil"), and as NULs
		// between letters to Go's url.ParseQuery.
		{"charset behind a bad parameter", "application/x-www-form-urlencoded; charset=UTF-16BE; x", "username=%00e%00v%00i%00l&password=x", http.StatusUnsupportedMediaType},
		{"charset repeated", "application/x-www-form-urlencoded; charset=utf-8; charset=UTF-16BE", "username=%00e%00v%00i%00l&password=x", http.StatusUnsupportedMediaType},
		{"charset inside a quoted parameter", `application/x-www-form-urlencoded; x="; charset=UTF-16BE"`, "username=%00e%00v%00i%00l&password=x", http.StatusUnsupportedMediaType},
		{"charset with spaces", "application/x-www-form-urlencoded; charset = UTF-16BE", "username=%00e%00v%00i%00l&password=x", http.StatusUnsupportedMediaType},
		{"invalid utf-8", "", "username=%FFevil&password=x", http.StatusBadRequest},
		{"bad escape", "", "username=%zz&password=x", http.StatusBadRequest},
		{"over the cap", "", big, http.StatusRequestEntityTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, hook)
			w := h.post(t, loginPath, c.ct, c.body)
			if w.Code != c.status {
				t.Fatalf("got %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if !strings.Contains(w.Body.String(), "This form could not be read") {
				t.Fatalf("no clear page: %s", w.Body)
			}
			if h.kc.posts() != 0 {
				t.Fatal("the IdP got a post the hook could not judge")
			}
		})
	}
	// UTF-8 named explicitly is read, and Keycloak is given the bare
	// type: nothing in it for another parser to read otherwise.
	h := newHarness(t, hook)
	var forwarded []string
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		forwarded = r.Header.Values("Content-Type")
		return h.kc.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodPost, loginPath, strings.NewReader("username=jane&password=right-password"))
	r.Header.Set("Content-Type", "Application/X-WWW-Form-URLEncoded ; charset=\"UTF-8\"")
	w := httptest.NewRecorder()
	if err := h.ic.ServeHTTP(w, r, next); err != nil || w.Code != http.StatusFound {
		t.Fatalf("charset=UTF-8: %d %v", w.Code, err)
	}
	if len(forwarded) != 1 || forwarded[0] != "application/x-www-form-urlencoded" {
		t.Fatalf("Keycloak was given Content-Type %q", forwarded)
	}
	// Two types, or a compressed body (which Keycloak does not inflate,
	// but an IdP behind another proxy might): refused.
	for name, hdr := range map[string]http.Header{
		"two types": {"Content-Type": {"application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-16BE"}},
		"gzip":      {"Content-Type": {"application/x-www-form-urlencoded"}, "Content-Encoding": {"gzip"}},
	} {
		h := newHarness(t, hook)
		r := httptest.NewRequest(http.MethodPost, loginPath, strings.NewReader("username=evil&password=x"))
		r.Header = hdr
		if w := h.serve(t, r); w.Code != http.StatusUnsupportedMediaType || h.kc.posts() != 0 {
			t.Fatalf("%s: %d, IdP posts %d", name, w.Code, h.kc.posts())
		}
	}
	// A repeated client_id in the action URL is refused: the hook would be
	// chosen for one client and Keycloak read another.
	if w := h.post(t, loginPath+"&client_id=other", "", "username=jane&password=x"); w.Code != http.StatusBadRequest {
		t.Fatalf("repeated client_id: %d", w.Code)
	}
}

// Keycloak trims the username of a login or reset (Java's String.trim:
// everything up to U+0020, NUL included) and finds users without regard
// to case; it lower-cases emails at registration. Hooks judge the values
// so read: " JANE\x00" is jane, whom the hook denies.
func TestIdentifierAsKeycloakReadsIt(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) {
		if (e.identifier === "jane" && e.form.username === "jane") api.deny("no jane");
	}
	exports.onBeforePasswordReset = function(e, api) { if (e.identifier === "jane") api.deny("no reset") };
	exports.onBeforeRegistration = function(e, api) {
		if (e.form.email.endsWith("@competitor.example") && e.identifier === "spy") api.deny("work email");
	};`)
	for _, u := range []string{"+JANE+", "%09jane%0B", "jane%00", "Jane"} {
		w := h.post(t, loginPath, "", "username="+u+"&password=right-password")
		if !strings.Contains(w.Body.String(), "no jane") {
			t.Errorf("login as %s: %d, not denied", u, w.Code)
		}
		if !strings.Contains(h.post(t, resetPath, "", "username="+u).Body.String(), "no reset") {
			t.Errorf("reset of %s: not denied", u)
		}
	}
	w := h.post(t, registerPath, "", "username=SPY&email=spy%40COMPETITOR.example&firstName=S&lastName=Py&password=p-1&password-confirm=p-1")
	if !strings.Contains(w.Body.String(), "work email") {
		t.Errorf("registration with an upper-case domain: %d, not denied", w.Code)
	}
	// The page shown again keeps what the customer typed.
	if !strings.Contains(w.Body.String(), `value="spy@COMPETITOR.example"`) {
		t.Errorf("the typed email is not kept: %s", w.Body)
	}
	if h.kc.posts() != 0 {
		t.Fatalf("%d denied posts reached the IdP", h.kc.posts())
	}
}

// Java lower-cases a final Σ to ς, as Keycloak does a username: the hook
// that denies "οδυσσεας" sees it when "ΟΔΥΣΣΕΑΣ" is typed (Go's
// strings.ToLower would give "οδυσσεασ"); a Σ whose fate depends on
// Java's word boundaries is refused, never sent on unjudged.
func TestIdentifierFoldedAsJavaDoes(t *testing.T) {
	h := newHarness(t, `exports.onAfterIdentification = function(e, api) {
		if (e.identifier === "οδυσσεας" || e.identifier === "i\u0307van") api.deny("not you");
	}`)
	for _, u := range []string{"ΟΔΥΣΣΕΑΣ", "İvan"} {
		if w := h.post(t, loginPath, "", "username="+url.QueryEscape(u)+"&password=x"); !strings.Contains(w.Body.String(), "not you") {
			t.Errorf("login as %s: %d, not denied", u, w.Code)
		}
	}
	if w := h.post(t, loginPath, "", "username="+url.QueryEscape("ΟΔΥΣΣΕΑΣ@example.com")+"&password=x"); w.Code != 400 || !strings.Contains(w.Body.String(), "small letters") {
		t.Errorf("an undecidable Σ: %d %s", w.Code, w.Body)
	}
	if h.kc.posts() != 0 {
		t.Fatalf("%d posts reached the IdP", h.kc.posts())
	}
}

func TestApplicationFilter(t *testing.T) {
	const hook = `exports.onAfterIdentification = function(e, api) { api.deny("only for web") }`
	h := newHarness(t, hook, withApps("other-app"))
	if w := h.post(t, loginPath, "", "username=jane&password=right-password"); w.Code != http.StatusFound {
		t.Fatalf("a hook for another app ran: %d", w.Code)
	}
	h = newHarness(t, hook, withApps("web"))
	if w := h.post(t, loginPath, "", "username=jane&password=right-password"); !strings.Contains(w.Body.String(), "only for web") {
		t.Fatalf("the hook for web did not run: %d", w.Code)
	}
	// Without a client_id, a filtered hook cannot be chosen: refused.
	if w := h.post(t, "/realms/acme/login-actions/authenticate?session_code=x", "", "username=jane&password=right-password"); w.Code != http.StatusBadRequest || h.kc.posts() != 0 {
		t.Fatalf("no client_id: %d, posts %d", w.Code, h.kc.posts())
	}
}

func TestPathSpellings(t *testing.T) {
	const hook = `exports.onAfterIdentification = function(e, api) { api.deny("caught") }`
	for _, p := range []string{
		"/realms/acme/login-actions/authenticate",
		"/REALMS/acme/login-actions/AUTHENTICATE",
		"//realms/acme//login-actions/authenticate",
		"/realms/acme/login-actions/authenticate/",
		"/realms/acme/x/../login-actions/authenticate",
		"/realms/acme/login-actions/%61uthenticate",
		"/realms/acme/login-actions/authenticate;jsessionid=1",
	} {
		h := newHarness(t, hook)
		r := httptest.NewRequest(http.MethodPost, "http://idp.test"+p+"?"+actionQuery, strings.NewReader("username=jane&password=x"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := h.serve(t, r)
		if h.kc.posts() != 0 {
			t.Errorf("%s: the post reached the IdP unjudged (%d)", p, w.Code)
		}
	}
}

func TestAtFailedAuthentication(t *testing.T) {
	h := newHarness(t, `exports.onAtFailedAuthentication = function(e, api) {
		if (e.error === "invalid_credentials" && e.idp_message === "Invalid username or password." && e.status === 200)
			api.replaceError("That did not work. Forgot your password? Call 555-0100.");
	}`)
	w := h.post(t, loginPath, "", "username=jane&password=wrong-pass")
	got := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(got, `<span class="kc-feedback-text">That did not work. Forgot your password? Call 555-0100.</span>`) {
		t.Fatalf("got %d:\n%s", w.Code, got)
	}
	if strings.Contains(got, "Invalid username or password.") || strings.Contains(got, "wrong-pass") {
		t.Fatalf("the IdP's message or the password is still there:\n%s", got)
	}
	if w.Header().Get("Set-Cookie") == "" || w.Header().Get("Content-Security-Policy") == "" {
		t.Fatal("the IdP's headers are lost")
	}
	// A success is not touched.
	w = h.post(t, loginPath, "", "username=jane&password=right-password")
	if w.Code != http.StatusFound {
		t.Fatalf("success: %d", w.Code)
	}
}

func TestAtFailedAuthenticationRedirectAndFailure(t *testing.T) {
	h := newHarness(t, `exports.onAtFailedAuthentication = function(e, api) { api.redirect("/help/login") }`)
	w := h.post(t, loginPath, "", "username=jane&password=wrong")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/help/login" || w.Header().Get("Set-Cookie") == "" {
		t.Fatalf("redirect: %d %v", w.Code, w.Header())
	}
	h = newHarness(t, `exports.onAtFailedAuthentication = function(e, api) { while (true) {} }`)
	w = h.post(t, loginPath, "", "username=jane&password=wrong")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Something went wrong. Please try again.") {
		t.Fatalf("a looping hook: %d\n%s", w.Code, w.Body)
	}
}

func TestBeforeRegistrationSetField(t *testing.T) {
	h := newHarness(t, `exports.onBeforeRegistration = function(e, api) {
		api.form.setField("crm_id", "CRM-" + e.form.email.length);
		api.form.setField("firstName", "Jänë");
		api.form.removeField("lastName");
	}`)
	body := "username=newbie&email=new%40example.com&firstName=j&lastName=d&password=p4ss-word&password-confirm=p4ss-word"
	w := h.post(t, registerPath, "", body)
	if w.Code != http.StatusFound {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	seen := h.kc.requests()
	want := "username=newbie&email=new%40example.com&firstName=J%C3%A4n%C3%AB&password=p4ss-word&password-confirm=p4ss-word&crm_id=CRM-15"
	if len(seen) != 1 || seen[0].body != want {
		t.Fatalf("the IdP got %+v\nwant %s", seen, want)
	}
}

func TestBeforeRegistrationSecretsAreNotHooks(t *testing.T) {
	for _, call := range []string{`api.form.setField("password", "chosen")`, `api.form.removeField("password-confirm")`, `api.form.setField("new_password", "x")`} {
		h := newHarness(t, `exports.onBeforeRegistration = function(e, api) { `+call+` }`)
		w := h.post(t, registerPath, "", "username=newbie&email=n%40e.com&password=p&password-confirm=p")
		if h.kc.posts() != 0 || !strings.Contains(w.Body.String(), "Something went wrong") {
			t.Fatalf("%s: %d posts, page %s", call, h.kc.posts(), w.Body)
		}
	}
}

func TestBeforeRegistrationDenyKeepsTypedFields(t *testing.T) {
	h := newHarness(t, `exports.onBeforeRegistration = function(e, api) {
		if (e.form.email.endsWith("@competitor.example")) api.deny("Please use your work email.");
	}`)
	w := h.post(t, registerPath, "", "username=spy&email=spy%40competitor.example&firstName=Sp%22y&lastName=Y&password=pw-123456&password-confirm=pw-123456")
	got := w.Body.String()
	if !strings.Contains(got, "Please use your work email.") || !strings.Contains(got, `id="kc-register-form"`) {
		t.Fatalf("got %d:\n%s", w.Code, got)
	}
	for _, s := range []string{`name="username" value="spy"`, `name="email" value="spy@competitor.example"`, `name="firstName" value="Sp&#34;y"`} {
		if !strings.Contains(got, s) {
			t.Fatalf("typed field %s not kept:\n%s", s, got)
		}
	}
	if strings.Contains(got, "pw-123456") {
		t.Fatal("the password is on the page")
	}
	if h.kc.posts() != 0 {
		t.Fatal("the denied registration reached the IdP")
	}
}

func TestAfterRegistration(t *testing.T) {
	h := newHarness(t, `exports.onAfterRegistration = function(e, api) {
		if (e.user.username === "newbie" && e.user.email === "n@e.com") api.redirect("https://brand.example/welcome");
	}`)
	w := h.post(t, registerPath, "", "username=newbie&email=n%40e.com&password=p&password-confirm=p")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "https://brand.example/welcome" || w.Header().Get("Set-Cookie") == "" {
		t.Fatalf("got %d %v", w.Code, w.Header())
	}
	// A failed registration is at_failed_authentication's, not this one's.
	w = h.post(t, registerPath, "", "username=newbie&email=n%40e.com&password=p&password-confirm=p")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Username already exists.") {
		t.Fatalf("taken: %d", w.Code)
	}
}

func TestRegistrationFailureReason(t *testing.T) {
	h := newHarness(t, `exports.onAtFailedAuthentication = function(e, api) {
		api.replaceError(e.error + "|" + e.form_type + "|" + e.idp_message);
	}`)
	h.kc.addUser("taken", "x")
	w := h.post(t, registerPath, "", "username=taken&email=t%40e.com&firstName=T&password=p&password-confirm=p")
	if !strings.Contains(w.Body.String(), "user_exists|registration|Username already exists.") {
		t.Fatalf("got:\n%s", w.Body)
	}
	if !strings.Contains(w.Body.String(), `name="firstName" value="T"`) {
		t.Fatal("the IdP's own page lost its values")
	}
}

func TestBeforePasswordResetDeny(t *testing.T) {
	h := newHarness(t, `exports.onBeforePasswordReset = function(e, api) {
		if (e.identifier === "ceo") api.deny("Call the help desk to reset this account.");
	}`)
	w := h.post(t, resetPath, "", "username=ceo")
	if !strings.Contains(w.Body.String(), "Call the help desk to reset this account.") || !strings.Contains(w.Body.String(), `id="kc-reset-password-form"`) {
		t.Fatalf("got %d:\n%s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "pf-v5-c-alert") {
		t.Fatal("the reason is not in the theme's alert")
	}
	if h.kc.posts() != 0 {
		t.Fatal("the reset reached the IdP")
	}
	w = h.post(t, resetPath, "", "username=jane")
	if !strings.Contains(w.Body.String(), "You should receive an email") {
		t.Fatalf("an allowed reset: %s", w.Body)
	}
}

const migration = `const legacy = {"old-user": "legacy-pass"};
exports.onBeforePasswordValidation = function(e, api) {
	if (legacy[e.identifier] === undefined) return;
	if (legacy[e.identifier] === e.password) api.accept({email: e.identifier + "@legacy.example", attributes: {legacy_id: ["L1"]}});
	else api.reject();
}`

func TestLazyMigration(t *testing.T) {
	h := newHarness(t, migration)
	// First login of a legacy user: created in the IdP, logged in.
	w := h.post(t, loginPath, "", "username=old-user&password=legacy-pass&credentialId=")
	if w.Code != http.StatusFound {
		t.Fatalf("first login: %d %s", w.Code, w.Body)
	}
	if len(h.dir.created) != 1 {
		t.Fatalf("created %+v", h.dir.created)
	}
	u := h.dir.created[0]
	if u.Username != "old-user" || u.Password != "legacy-pass" || u.Email != "old-user@legacy.example" || u.Attributes["legacy_id"][0] != "L1" {
		t.Fatalf("created %+v", u)
	}
	// Second login: the IdP knows them; neither the store nor the hook
	// is asked again.
	asked := h.dir.asked
	w = h.post(t, loginPath, "", "username=old-user&password=legacy-pass&credentialId=")
	if w.Code != http.StatusFound || h.dir.asked != asked || len(h.dir.created) != 1 {
		t.Fatalf("second login: %d, asked %d→%d", w.Code, asked, h.dir.asked)
	}
	// An IdP user: asked once, then remembered; the hook never runs.
	for range 3 {
		if w := h.post(t, loginPath, "", "username=jane&password=right-password"); w.Code != http.StatusFound {
			t.Fatalf("IdP user: %d", w.Code)
		}
	}
	if h.dir.asked != asked+1 {
		t.Fatalf("the directory was asked %d times for an IdP user", h.dir.asked-asked)
	}
	if txt := h.loggedText(); strings.Contains(txt, "legacy-pass") || strings.Contains(txt, "right-password") {
		t.Fatalf("a password is in the log:\n%s", txt)
	}
}

func TestLazyMigrationReject(t *testing.T) {
	h := newHarness(t, migration)
	w := h.post(t, loginPath, "", "username=old-user&password=wrong-guess")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "Invalid username or password.") || strings.Contains(w.Body.String(), "wrong-guess") {
		t.Fatalf("reject: %d\n%s", w.Code, w.Body)
	}
	if h.kc.posts() != 0 || len(h.dir.created) != 0 {
		t.Fatal("a rejected password went on")
	}
	// Unknown to both: the IdP answers as for anyone.
	w = h.post(t, loginPath, "", "username=nobody&password=x")
	if h.kc.posts() != 1 || !strings.Contains(w.Body.String(), "Invalid username or password.") {
		t.Fatalf("unknown user: %d", w.Code)
	}
}

func TestLazyMigrationDirectoryDown(t *testing.T) {
	h := newHarness(t, migration)
	h.dir.fail = errors.New("connection refused")
	// Known fails: asked as unknown; an IdP user the hook does not know
	// goes on to the IdP.
	if w := h.post(t, loginPath, "", "username=jane&password=right-password"); w.Code != http.StatusFound {
		t.Fatalf("IdP user with the directory down: %d", w.Code)
	}
}

func TestMigrationNeedsSyncHook(t *testing.T) {
	// An async hook on the secret event never runs (caddymodule refuses it
	// in config; the dispatcher holds the line too).
	h := newHarness(t, `exports.onBeforePasswordValidation = function(e) {}`, withMode("async"))
	h.post(t, loginPath, "", "username=old-user&password=legacy-pass")
	time.Sleep(50 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.async) != 0 {
		t.Fatal("an async hook saw a password")
	}
}

// A careless migration hook: the password it logs, throws or denies
// with is hidden in every log line.
func TestPasswordRedactedFromHookOutput(t *testing.T) {
	for _, src := range []string{
		`exports.onBeforePasswordValidation = (e, api) => { console.log("checking", e.identifier, e.password, JSON.stringify(e)); api.accept(); }`,
		`exports.onBeforePasswordValidation = (e, api) => { throw new Error("bad password " + e.password); }`,
		`exports.onBeforePasswordValidation = async (e, api) => { await Promise.reject({pw: e.password}); }`,
		`exports.onBeforePasswordValidation = (e, api) => { api.reject("wrong: " + e.password); }`,
	} {
		h := newHarness(t, src)
		w := h.post(t, loginPath, "", "username=old-user&password=Sup3r%2Fsecret%22pw")
		if txt := h.loggedText(); strings.Contains(txt, `Sup3r/secret"pw`) || strings.Contains(txt, `Sup3r/secret\"pw`) || strings.Contains(txt, "Sup3r%2Fsecret") {
			t.Fatalf("%s\nthe password is in the log:\n%s", src, txt)
		}
		_ = w
	}
}

// Keycloak runs its session's step whatever login-actions endpoint a post
// names: registration fields posted to /authenticate are a registration.
func TestRegistrationPostedToAnotherEndpoint(t *testing.T) {
	for _, path := range []string{loginPath, resetPath} {
		h := newHarness(t, `exports.onBeforeRegistration = (e, api) => { api.deny("no " + e.form_type); };`)
		w := h.post(t, path, "", "username=x&email=x%40competitor.example&firstName=F&lastName=L&password=p&password-confirm=p")
		if h.kc.posts() != 0 || !strings.Contains(w.Body.String(), "no registration") {
			t.Fatalf("%s: %d posts, %s", path, h.kc.posts(), w.Body)
		}
	}
	// A login post is not one.
	h := newHarness(t, `exports.onBeforeRegistration = (e, api) => { api.deny("no"); };`)
	if w := h.post(t, loginPath, "", "username=jane&password=right-password"); w.Code != http.StatusFound {
		t.Fatalf("login: %d", w.Code)
	}
}

// Keycloak's secret fields (new passwords, one-time codes, the TOTP
// secret) stay out of every event, whichever form a post carrying them
// is read as: a login, a registration posted to /authenticate, a reset.
func TestSecretFieldsOfEveryStepRedacted(t *testing.T) {
	echo := `function(e, api) { api.deny(JSON.stringify(e.form)); }`
	h := newHarness(t, "exports.onAfterIdentification = "+echo+";\nexports.onBeforeRegistration = "+echo+";\nexports.onBeforePasswordReset = "+echo+";")
	const secrets = "&otp=S1-otp&totp=S2-totp&totpSecret=S3-totpsecret&password-new=S4-new"
	for _, c := range []struct{ path, body string }{
		{loginPath, "username=jane&password=S0-pass" + secrets},
		{loginPath, "username=newbie&email=n%40example.com&password=S0-pass&password-confirm=S5-confirm" + secrets},
		{resetPath, "username=jane" + secrets},
	} {
		got := h.post(t, c.path, "", c.body).Body.String()
		if !strings.Contains(got, "[redacted]") {
			t.Fatalf("%s: no event shown: %s", c.body, got)
		}
		for _, s := range []string{"S0-", "S1-", "S2-", "S3-", "S4-", "S5-"} {
			if strings.Contains(got, s) {
				t.Errorf("%s: %s… reached the event:\n%s", c.body, s, got)
			}
		}
	}
}
