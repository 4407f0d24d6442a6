package keycloak

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// An account event names the customer idphooks remembered for the
// browser's AUTH_SESSION_ID, and a Shared Signals SET follows it. These
// posts, crafted by hand, put another customer's name in a login post
// Keycloak accepts while it authenticates the poster: the poster's own
// account step must never raise an event naming the other customer.

// newKCSessionFor is newKCSession for another client of the realm, with
// more parameters on the authorization request.
func newKCSessionFor(t *testing.T, issuer, clientID, extra, formID string) *kcSession {
	jar, _ := cookiejar.New(nil)
	s := &kcSession{t: t, r: newRPFor(t, issuer, clientID)}
	s.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), browserRedirectURI()) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	s.get(s.r.authURL()+extra, formID)
	return s
}

// get loads u in the session and takes the action of form formID.
func (s *kcSession) get(u, formID string) {
	resp, err := s.c.Get(u)
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.page = string(b)
	s.action = formAction(s.t, s.page, formID, resp.Request.URL)
}

// post sends form to the current action and takes the next page's form
// formID ("" for none).
func (s *kcSession) post(form, formID string) result {
	res := s.do("POST", s.action, []byte(form), nil)
	if formID != "" {
		s.page = res.body
		base, _ := http.NewRequest("GET", s.action, nil)
		s.action = formAction(s.t, res.body, formID, base.URL)
	}
	return res
}

// accountAttackUsers are the poster (with a new password to set at their
// next login) and the customer whose name they post.
func accountAttackUsers(t *testing.T) (mallory, victim, malloryID, victimID string) {
	ctx := e2etest.Ctx(t)
	mallory, victim = "mal-"+random(4), "vic-"+random(4)
	var err error
	if malloryID, err = testidp.CreateKeycloakUser(ctx, kc, testidp.NewKeycloakUser{Username: mallory, Password: "Mallory-pass-1",
		Email: mallory + "@example.com", FirstName: "Mal", LastName: "Lory", RequiredActions: []string{"UPDATE_PASSWORD"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(ctx, kc, malloryID) })
	if victimID, err = testidp.CreateKeycloakUser(ctx, kc, testidp.NewKeycloakUser{Username: victim, Password: "Victim-pass-1",
		Email: victim + "@example.com", FirstName: "Vic", LastName: "Tim"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(ctx, kc, victimID) })
	return
}

// notVictim checks an account event names the poster or nobody.
func notVictim(t *testing.T, ev map[string]any, victim, victimID string) {
	t.Helper()
	if ev["sub"] == victimID || ev["username"] == victim || ev["identifier"] == victim {
		t.Errorf("the poster's %v names the other customer: %v", ev["type"], ev)
	}
}

// The password step of a username-then-password flow reads no username:
// Keycloak checks the password of the user the username step took, and
// ignores a username posted beside it.
func TestFormsAttackAccountEventPasswordStepUsername(t *testing.T) {
	useUsernameFirstFlow(t)
	mallory, victim, _, victimID := accountAttackUsers(t)
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(accountHook, "__SINK__", s.URL))
	k := newKCSessionFor(t, px.Issuer(), testidp.KeycloakATClientID, "", "kc-form-login")
	k.post("username="+mallory, "kc-form-login")
	res := k.post("username="+victim+"&password=Mallory-pass-1", "")
	if !strings.Contains(res.body, "kc-passwd-update-form") {
		t.Fatalf("Keycloak did not take mallory's password beside the other username: %s", res)
	}
	k.page = res.body
	base, _ := http.NewRequest("GET", px.Origin, nil)
	k.action = formAction(t, res.body, "kc-passwd-update-form", base.URL)
	if res := k.post("password-new=Mallory-pass-2&password-confirm=Mallory-pass-2", ""); !res.loggedIn() {
		t.Fatalf("new password: %s", res)
	}
	notVictim(t, s.told(t, "after_password_reset"), victim, victimID)
}

// A login post to the login form's URL once the flow is past it
// (Keycloak's session is at a required action), or a re-authentication
// (prompt=login) of a signed-in customer, whose user Keycloak already
// knows: Keycloak uses its own user, whatever username is posted.
func TestFormsAttackAccountEventLoginPostIgnored(t *testing.T) {
	mallory, victim, _, victimID := accountAttackUsers(t)
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(accountHook, "__SINK__", s.URL))
	k := newKCSessionFor(t, px.Issuer(), testidp.KeycloakWebClientID, "", "kc-form-login")
	login := k.action
	if res := k.post("username="+mallory+"&password=Mallory-pass-1", "kc-passwd-update-form"); res.status != 200 {
		t.Fatalf("login: %s", res)
	}
	update := k.action
	// The login form's URL again, another username.
	k.action = login
	res := k.post("username="+victim+"&password=anything", "")
	if !strings.Contains(res.body, `data-page-id="login-login-page-expired"`) {
		t.Logf("a login post once past the login step: %s", res)
	}
	// The current step again: its URL without the used code.
	u, _ := url.Parse(update)
	q := u.Query()
	q.Del("session_code")
	u.RawQuery = q.Encode()
	k.get(u.String(), "kc-passwd-update-form")
	if res := k.post("password-new=Mallory-pass-2&password-confirm=Mallory-pass-2", ""); !res.loggedIn() {
		t.Fatalf("new password: %s", res)
	}
	notVictim(t, s.told(t, "after_password_reset"), victim, victimID)

	// Re-authentication: Keycloak shows mallory's name and checks her
	// password whatever username comes with it.
	k.get(k.r.authURL()+"&prompt=login", "kc-form-login")
	res = k.post("username="+victim+"&password=Mallory-pass-2", "")
	if !res.loggedIn() {
		t.Fatalf("re-authentication with another username beside mallory's password: %s", res)
	}
	k.get(k.r.authURL()+"&kc_action=UPDATE_PASSWORD", "kc-passwd-update-form")
	if res := k.post("password-new=Mallory-pass-3&password-confirm=Mallory-pass-3", ""); !res.loggedIn() {
		t.Fatalf("new password: %s", res)
	}
	notVictim(t, s.told(t, "after_password_reset"), victim, victimID)
}

// The username step's URL posted again with another username, once
// Keycloak moved on to the password step: Keycloak 26.7 answers with its
// page-expired page (the code is used), acting on nothing; were it to
// answer with its password page, the flow would name nobody (two
// names), never the second.
func TestFormsAttackAccountEventUsernameStepAgain(t *testing.T) {
	useUsernameFirstFlow(t)
	mallory, victim, _, victimID := accountAttackUsers(t)
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(accountHook, "__SINK__", s.URL))
	k := newKCSessionFor(t, px.Issuer(), testidp.KeycloakATClientID, "", "kc-form-login")
	first := k.action
	k.post("username="+mallory, "kc-form-login")
	password := k.action
	k.action = first
	if res := k.post("username="+victim, ""); !strings.Contains(res.body, `data-page-id="login-login-page-expired"`) {
		t.Fatalf("the username step posted again: %s", res)
	}
	// The password step, shown again without its used code.
	u, _ := url.Parse(password)
	q := u.Query()
	q.Del("session_code")
	u.RawQuery = q.Encode()
	k.get(u.String(), "kc-form-login")
	res := k.post("password=Mallory-pass-1", "")
	if !strings.Contains(res.body, "kc-passwd-update-form") {
		t.Fatalf("mallory's password after the username step again: %s", res)
	}
	base, _ := http.NewRequest("GET", px.Origin, nil)
	k.action = formAction(t, res.body, "kc-passwd-update-form", base.URL)
	if res := k.post("password-new=Mallory-pass-2&password-confirm=Mallory-pass-2", ""); !res.loggedIn() {
		t.Fatalf("new password: %s", res)
	}
	ev := s.told(t, "after_password_reset")
	notVictim(t, ev, victim, victimID)
	if ev["identifier"] != mallory {
		t.Errorf("after_password_reset: %v", ev)
	}
}
