package keycloak

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// Posts an attacker crafts by hand against Keycloak's login-actions,
// through Caddy with the forms interceptor: each is one Keycloak accepts
// (TestFormsAttack... asserts it directly first), and hooks must judge
// what Keycloak uses or the post must be refused.

// kcSession is a plain HTTP client in one Keycloak login flow: the
// login page of a new authorization request, and its form's action.
type kcSession struct {
	t      *testing.T
	c      *http.Client
	action string // the form's action URL
	page   string
	r      *rp
}

func newKCSession(t *testing.T, issuer string) *kcSession {
	jar, _ := cookiejar.New(nil)
	s := &kcSession{t: t, r: newRP(t, issuer)}
	s.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), browserRedirectURI()) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := s.c.Get(s.r.authURL())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.page = string(b)
	s.action = formAction(t, s.page, "kc-form-login", resp.Request.URL)
	return s
}

// formAction is the action URL of the form with id on page.
func formAction(t *testing.T, page, id string, base *url.URL) string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var found string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" {
			var isID bool
			var act string
			for _, a := range n.Attr {
				if a.Key == "id" && a.Val == id {
					isID = true
				}
				if a.Key == "action" {
					act = a.Val
				}
			}
			if isID {
				u, _ := base.Parse(act)
				found = u.String()
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == "" {
		t.Fatalf("no form %s in %.300s", id, page)
	}
	return found
}

// linkTo is the URL of the first link on page holding part.
func linkTo(t *testing.T, page, part string, base *url.URL) string {
	i := strings.Index(page, part)
	if i < 0 {
		t.Fatalf("no %s in page", part)
	}
	j := strings.LastIndex(page[:i], `"`)
	k := strings.Index(page[i:], `"`)
	u, _ := base.Parse(html.UnescapeString(page[j+1 : i+k]))
	return u.String()
}

// result is Keycloak's (or idphooks') answer to one request.
type result struct {
	status int
	loc    string
	body   string
}

func (r result) String() string {
	msg := ""
	if i := strings.Index(r.body, "kc-feedback-text"); i >= 0 {
		msg = r.body[i:min(len(r.body), i+120)]
	}
	if len(r.body) < 300 {
		msg += r.body
	}
	return http.StatusText(r.status) + " " + r.loc + " " + msg
}

// do sends one request in the session; h sets headers ("" deletes),
// and the body is url-encoded unless h says otherwise.
func (s *kcSession) do(method, u string, body []byte, h map[string]string) result {
	req, _ := http.NewRequestWithContext(e2etest.Ctx(s.t), method, u, bytes.NewReader(body))
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	if _, ok := h["Content-Type"]; !ok {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return result{resp.StatusCode, resp.Header.Get("Location"), string(b)}
}

// registrationAction follows the login page's registration link and
// returns the registration form's action.
func (s *kcSession) registrationAction() string {
	base, _ := url.Parse(s.action)
	reg := linkTo(s.t, s.page, "/login-actions/registration?", base)
	resp, err := s.c.Get(reg)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return formAction(s.t, string(b), "kc-register-form", resp.Request.URL)
}

// loggedIn reports a post Keycloak answered by finishing the
// authorization (a redirect to the relying party with a code).
func (r result) loggedIn() bool {
	return r.status == http.StatusFound && strings.HasPrefix(r.loc, browserRedirectURI()) && strings.Contains(r.loc, "code=")
}

// utf16be percent-encodes s's ASCII letters as UTF-16BE: %00b%00o%00b.
func utf16be(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteString("%00")
		b.WriteString(url.QueryEscape(string(c)))
	}
	return b.String()
}

const denyBob = `exports.onAfterIdentification = async (event, api) => { if (event.identifier === "bob") api.deny("Bob may not sign in."); };
exports.onBeforePasswordReset = async (event, api) => { if (event.identifier === "bob") api.deny("Bob may not reset."); };`

// Keycloak decodes a form in the charset its Content-Type names, with a
// parser that finds "charset=UTF-16BE" where Go's refuses the type ("; x"
// after it). Such a post logged bob in past the hook that denies him: the
// hook read "\x00b\x00o\x00b". Now refused (415) before Keycloak sees
// it, as is any type with more than charset=UTF-8 in it (Keycloak reads
// a charset inside a quoted parameter as Go does, today).
func TestFormsAttackCharset(t *testing.T) {
	body := []byte("username=" + utf16be(testidp.SecondUser.Username) + "&password=" + utf16be(testidp.SecondUser.Password))
	types := []string{
		"application/x-www-form-urlencoded; charset=UTF-16BE; x",
		`application/x-www-form-urlencoded; x="; charset=UTF-16BE"`,
	}
	// Keycloak itself logs bob in with the first.
	s := newKCSession(t, kc.Issuer())
	if res := s.do("POST", s.action, body, map[string]string{"Content-Type": types[0]}); !res.loggedIn() {
		t.Fatalf("Keycloak directly no longer reads the UTF-16 post (%s): the test proves nothing", res)
	}
	px := startJourney(t, denyBob)
	for _, ct := range types {
		s := newKCSession(t, px.Issuer())
		res := s.do("POST", s.action, body, map[string]string{"Content-Type": ct})
		if res.loggedIn() || res.status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %s", ct, res)
		}
	}
}

// Keycloak trims the username (everything up to U+0020, NUL and tabs
// included) and finds users without regard to case: " BOB " and
// "bob\x00" log bob in, and reset his password. The hook that denies
// "bob" must see "bob".
func TestFormsAttackIdentifierSpelling(t *testing.T) {
	spellings := []string{"+BOB+", "bob%00", "%09Bob%0B"}
	for _, u := range spellings {
		s := newKCSession(t, kc.Issuer())
		if res := s.do("POST", s.action, []byte("username="+u+"&password="+testidp.SecondUser.Password), nil); !res.loggedIn() {
			t.Fatalf("Keycloak directly does not log bob in as %s (%s): the test proves nothing", u, res)
		}
	}
	px := startJourney(t, denyBob)
	for _, u := range spellings {
		s := newKCSession(t, px.Issuer())
		res := s.do("POST", s.action, []byte("username="+u+"&password="+testidp.SecondUser.Password), nil)
		if res.loggedIn() || !strings.Contains(res.body, "Bob may not sign in.") {
			t.Errorf("login as %s: %s", u, res)
		}
		s = newKCSession(t, px.Issuer())
		base, _ := url.Parse(s.action)
		resp, err := s.c.Get(linkTo(t, s.page, "/login-actions/reset-credentials?", base))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action := formAction(t, string(page), "kc-reset-password-form", resp.Request.URL)
		if res := s.do("POST", action, []byte("username="+u), nil); !strings.Contains(res.body, "Bob may not reset.") {
			t.Errorf("reset of %s: %s", u, res)
		}
	}
}

// Keycloak stores a registered email lower-cased: a hook that refuses a
// domain must see the domain lower-cased too.
func TestFormsAttackRegistrationEmailCase(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	s := newKCSession(t, px.Issuer())
	action := s.registrationAction()
	u := "case-" + random(4)
	body := "username=" + u + "&email=" + u + "%40COMPETITOR.example&firstName=F&lastName=Case&password=Reg-password-1&password-confirm=Reg-password-1"
	res := s.do("POST", action, []byte(body), nil)
	if usr, _ := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, u); usr != nil {
		t.Cleanup(func() { testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, usr.ID) })
		t.Fatalf("registered past the hook as %q, email %q", usr.Username, usr.Email)
	}
	if !strings.Contains(res.body, "Please register with your work email.") {
		t.Errorf("answer: %s", res)
	}
}

// KNOWN BYPASS, not fixed: Keycloak runs the auth session's current
// execution whatever login-actions path a post names, so the
// registration form posted to /login-actions/authenticate (same query:
// session_code, execution, client_id, tab_id) registers the user, and
// idphooks, classifying by path, raises after_identification instead of
// before_registration. Found by hand on 26.7.3: the user was created with
// the denied domain. The keycloak profile now reads a post carrying a
// field only the registration form has as a registration, wherever it is
// posted.
func TestFormsAttackRegistrationAtAuthenticate(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	s := newKCSession(t, px.Issuer())
	action := strings.Replace(s.registrationAction(), "/login-actions/registration", "/login-actions/authenticate", 1)
	u := "x-" + random(4)
	s.do("POST", action, []byte("username="+u+"&email="+u+"%40competitor.example&firstName=F&lastName=L&password=Reg-password-1&password-confirm=Reg-password-1"), nil)
	if usr, _ := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, u); usr != nil {
		t.Cleanup(func() { testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, usr.ID) })
		t.Fatalf("registered past before_registration: %q %q", usr.Username, usr.Email)
	}
	// The same posted to the reset endpoint.
	s = newKCSession(t, px.Issuer())
	action = strings.Replace(s.registrationAction(), "/login-actions/registration", "/login-actions/reset-credentials", 1)
	s.do("POST", action, []byte("username="+u+"&email="+u+"%40competitor.example&firstName=F&lastName=L&password=Reg-password-1&password-confirm=Reg-password-1"), nil)
	if usr, _ := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, u); usr != nil {
		t.Cleanup(func() { testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, usr.ID) })
		t.Fatalf("registered past before_registration at reset-credentials: %q %q", usr.Username, usr.Email)
	}
}

// The reset form posted to /login-actions/authenticate: Keycloak 26.7 does
// not run the session's reset step there (it answers with a page, no reset
// mail), so there is nothing to refuse. Should a Keycloak run it, this
// test requires before_password_reset to see it.
func TestFormsAttackResetAtAuthenticate(t *testing.T) {
	resetAt := func(issuer string) result {
		s := newKCSession(t, issuer)
		base, _ := url.Parse(s.action)
		resp, err := s.c.Get(linkTo(t, s.page, "/login-actions/reset-credentials?", base))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		action := formAction(t, string(page), "kc-reset-password-form", resp.Request.URL)
		action = strings.Replace(action, "/login-actions/reset-credentials", "/login-actions/authenticate", 1)
		return s.do("POST", action, []byte("username=bob"), nil)
	}
	if res := resetAt(kc.Issuer()); !strings.Contains(res.body, "You should receive an email") {
		t.Skipf("Keycloak 26.7 does not run the reset step at /authenticate (status %d, location %q, %.300s): nothing to refuse", res.status, res.loc, res.body)
	}
	px := startJourney(t, denyBob)
	if res := resetAt(px.Issuer()); !strings.Contains(res.body, "Bob may not reset.") {
		t.Fatalf("a reset posted to /authenticate: %s", res)
	}
}

// The other way round: a login post with a field only the registration
// form has (email, firstName, …) added. Keycloak's login form reads
// username and password and logs bob in; idphooks must not read it as a
// registration only, or after_identification, which denies bob, is
// skipped. The same for the username step of a username-then-password
// flow.
func TestFormsAttackLoginWithRegistrationField(t *testing.T) {
	extras := []string{"&email=x%40example.com", "&firstName=X", "&password-confirm=" + testidp.SecondUser.Password}
	for _, extra := range extras {
		s := newKCSession(t, kc.Issuer())
		if res := s.do("POST", s.action, []byte("username=bob&password="+testidp.SecondUser.Password+extra), nil); !res.loggedIn() {
			t.Fatalf("Keycloak directly does not log bob in with %s (%s): the test proves nothing", extra, res)
		}
	}
	px := startJourney(t, denyBob)
	for _, extra := range extras {
		s := newKCSession(t, px.Issuer())
		res := s.do("POST", s.action, []byte("username=bob&password="+testidp.SecondUser.Password+extra), nil)
		if res.loggedIn() || !strings.Contains(res.body, "Bob may not sign in.") {
			t.Errorf("login with %s: %s", extra, res)
		}
	}
}
