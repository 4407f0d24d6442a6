package keycloak

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/browser"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// The journey on Keycloak's own pages, in Chromium, through Caddy with
// idp_hooks' forms interceptor (profile keycloak, with the realm's
// idphooks-admin service account for lazy migration).

// journeyHook is the hooks of these tests. __LEGACY__ and __SINK__ are
// loopback servers of the test: a legacy user store and a recorder of
// after_login events.
const journeyHook = `
exports.onAfterIdentification = async (event, api) => {
  if (event.identifier === "bob") api.deny("Bob signs in at the partner portal.");
};
exports.onAtFailedAuthentication = async (event, api) => {
  if (event.error === "invalid_credentials" && event.form_type === "login")
    api.replaceError("That did not work (" + event.idp_message + "). Call 555-0100.");
};
exports.onBeforeRegistration = async (event, api) => {
  if ((event.form.email || "").endsWith("@competitor.example")) { api.deny("Please register with your work email."); return; }
  api.form.setField("crm_id", "CRM-" + event.form.lastName.toUpperCase());
};
exports.onBeforePasswordReset = async (event, api) => {
  if (event.identifier === "ceo") api.deny("Call the help desk to reset this account.");
};
exports.onBeforePasswordValidation = async (event, api) => {
  const r = await fetch("__LEGACY__/verify", { method: "POST", body: JSON.stringify({ login: event.identifier, password: event.password }) });
  if (r.status === 404) return;
  const u = await r.json();
  if (u.valid) api.accept({ email: u.email, first_name: u.first_name, last_name: "Legacy" });
  else api.reject();
};
`

const afterLoginHook = `
exports.onAfterLogin = async (event) => {
  await fetch("__SINK__/after_login", { method: "POST", body: JSON.stringify({ application: event.application, protocol: event.protocol, sub: event.user.sub, username: event.user.preferred_username }) });
};
`

// legacyStore is the test's legacy user store: POST /verify with the
// login and password; 404 for a login it does not know.
type legacyStore struct {
	*httptest.Server
	mu    sync.Mutex
	users map[string]string
	calls map[string]int
}

func newLegacyStore(t *testing.T, users map[string]string) *legacyStore {
	s := &legacyStore{users: users, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Login, Password string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		s.mu.Lock()
		s.calls[in.Login]++
		pw, ok := s.users[in.Login]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"valid": pw == in.Password, "email": in.Login + "@legacy.example", "first_name": "Lee"})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *legacyStore) called(login string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[login]
}

// sink records the after_login events the async hook posts.
type sink struct {
	*httptest.Server
	got chan map[string]any
}

func newSink(t *testing.T) *sink {
	s := &sink{got: make(chan map[string]any, 16)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		s.got <- m
	}))
	t.Cleanup(s.Close)
	return s
}

// startJourney runs Caddy with idp_hooks' forms block and the hooks in
// srcs (none: the forms block with no hook on its events).
func startJourney(t *testing.T, srcs ...string) *proxy {
	t.Helper()
	return startJourneyWith(t, nil, dynamicHostname, srcs...)
}

// startJourneyWith is startJourney with more idp_hooks fields (a
// shared_signals receiver) and the realm's hostname mode.
func startJourneyWith(t *testing.T, more map[string]any, fixed bool, srcs ...string) *proxy {
	t.Helper()
	dir := t.TempDir()
	var hooks []any
	for i, src := range srcs {
		p := filepath.Join(dir, "hook"+string(rune('a'+i))+".js")
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, map[string]any{"path": p, "allow_hosts": []string{"127.0.0.1/32"}, "timeout": int64(5 * time.Second)})
	}
	cfg := map[string]any{
		"forms": map[string]any{"profile": map[string]any{
			"name": "keycloak", "admin_client_id": testidp.KeycloakAdminClientID, "admin_client_secret": testidp.KeycloakAdminClientSecret,
		}},
	}
	if len(hooks) > 0 {
		cfg["hooks"] = hooks
	}
	for k, v := range more {
		cfg[k] = v
	}
	return startProxy(t, cfg, fixed)
}

func journeySrc(legacy, sink string) string {
	return strings.NewReplacer("__LEGACY__", legacy, "__SINK__", sink).Replace(journeyHook)
}

// openLogin opens the realm's login page through px for a new relying
// party.
func openLogin(t *testing.T, px *proxy) (*browser.Tab, *rp) {
	t.Helper()
	p := newTab(t)
	r := newRP(t, px.Issuer())
	p.Navigate(r.authURL())
	p.WaitVisible("#kc-form-login")
	return p, r
}

// A login denied at identification: Keycloak's own login page with the
// reason where it shows errors, the username kept and the password
// emptied; the customer then signs in as someone else on that page.
func TestJourneyDenyAtIdentificationThenRetry(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, testidp.SecondUser.Username, testidp.SecondUser.Password)
	p.WaitVisible("#kc-form-login")
	if got := p.Text(".kc-feedback-text"); got != "Bob signs in at the partner portal." {
		t.Errorf("message on the page: %q", got)
	}
	if p.Status() != 200 || p.Value("#username") != testidp.SecondUser.Username || p.Value("#password") != "" {
		t.Errorf("status %d, username %q, password %q", p.Status(), p.Value("#username"), p.Value("#password"))
	}
	if strings.Contains(p.HTML(), testidp.SecondUser.Password) {
		t.Error("the password is on the page")
	}
	// The retry, on the page idphooks answered with.
	loginOnKeycloak(t, p, px.Origin, testidp.TestUser.Username, testidp.TestUser.Password)
	claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	if claims["sub"] != testidp.TestUser.Subject {
		t.Errorf("claims after the retry: %v", claims)
	}
}

// A failed login whose message the brand replaced.
func TestJourneyReplaceError(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	p, _ := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, testidp.TestUser.Username, "not-the-password")
	p.WaitVisible("#kc-form-login")
	if got := p.Text("#input-error-username .kc-feedback-text"); got != "That did not work (Invalid username or password.). Call 555-0100." {
		t.Errorf("message under the username: %q", got)
	}
	if p.Value("#username") != testidp.TestUser.Username {
		t.Errorf("username %q", p.Value("#username"))
	}
}

// Registration: the hook adds crm_id, Keycloak stores it; a registration
// the hook denies shows the reason with the typed fields kept.
func TestJourneyRegistration(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	register := func(p *browser.Tab, username, email, last string) {
		p.ClickNavigate("#kc-registration a")
		p.WaitVisible("#kc-register-form")
		p.Fill("#username", username)
		p.Fill("#email", email)
		p.Fill("#firstName", "Reggie")
		p.Fill("#lastName", last)
		p.Fill("#password", "Reg-password-1")
		p.Fill("#password-confirm", "Reg-password-1")
		p.ClickNavigate(`#kc-register-form [type="submit"]`)
	}

	p, _ := openLogin(t, px)
	spy := "spy-" + random(4)
	register(p, spy, spy+"@competitor.example", "Spy")
	p.WaitVisible("#kc-register-form")
	if got := p.Text(".kc-feedback-text"); got != "Please register with your work email." {
		t.Errorf("message: %q", got)
	}
	if p.Value("#username") != spy || p.Value("#email") != spy+"@competitor.example" || p.Value("#lastName") != "Spy" || p.Value("#password") != "" {
		t.Errorf("fields after the deny: %q %q %q %q", p.Value("#username"), p.Value("#email"), p.Value("#lastName"), p.Value("#password"))
	}
	if u, err := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, spy); err != nil || u != nil {
		t.Fatalf("the denied registration created %v (%v)", u, err)
	}

	p, r := openLogin(t, px)
	username := "reg-" + random(4)
	register(p, username, username+"@example.com", "Stration")
	claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	u, err := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, username)
	if err != nil || u == nil {
		t.Fatalf("the new user: %v %v", u, err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, u.ID) })
	if got := u.Attributes[testidp.KeycloakCRMAttribute]; !slices.Equal(got, []string{"CRM-STRATION"}) || claims["sub"] != u.ID {
		t.Errorf("crm_id %q (attributes %v), sub %v", got, u.Attributes, claims["sub"])
	}
}

// Lazy migration: a customer Keycloak does not know but the legacy store
// does logs in at the first try, then exists in Keycloak with that
// password; the store is not asked again, nor for Keycloak's own users; a
// wrong legacy password shows the normal failure.
func TestJourneyLazyMigration(t *testing.T) {
	migrated, wrong := "legacy-"+random(4), "legacy-"+random(4)
	store := newLegacyStore(t, map[string]string{migrated: "Legacy-pass-1", wrong: "Legacy-pass-2"})
	px := startJourney(t, journeySrc(store.URL, "http://127.0.0.1:9"))

	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, migrated, "Legacy-pass-1")
	claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	u, err := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, migrated)
	if err != nil || u == nil {
		t.Fatalf("the migrated user in Keycloak: %v %v", u, err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, u.ID) })
	if claims["sub"] != u.ID || u.Email != migrated+"@legacy.example" || u.FirstName != "Lee" || u.LastName != "Legacy" || !u.Enabled {
		t.Errorf("migrated user %+v, sub %v", u, claims["sub"])
	}
	if n := store.called(migrated); n != 1 {
		t.Errorf("the legacy store was asked %d times at the first login", n)
	}

	// Second login: Keycloak checks the password itself.
	p, r = openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, migrated, "Legacy-pass-1")
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	if n := store.called(migrated); n != 1 {
		t.Errorf("the legacy store was asked %d times after the migration", n)
	}

	// Keycloak's own users never reach the store.
	p, r = openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, testidp.TestUser.Username, testidp.TestUser.Password)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	if n := store.called(testidp.TestUser.Username); n != 0 {
		t.Errorf("the legacy store was asked %d times for a Keycloak user", n)
	}

	// A wrong legacy password: Keycloak's failure message, no user made.
	p, _ = openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, wrong, "not-it")
	p.WaitVisible("#kc-form-login")
	if got := p.Text(".kc-feedback-text"); got != "Invalid username or password." {
		t.Errorf("message after a wrong legacy password: %q", got)
	}
	if u, err := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, wrong); err != nil || u != nil {
		t.Errorf("a rejected legacy user was created: %v %v", u, err)
	}
}

// A password reset stopped by before_password_reset, on Keycloak's page.
func TestJourneyResetDenied(t *testing.T) {
	px := startJourney(t, journeySrc("http://127.0.0.1:9", "http://127.0.0.1:9"))
	p, _ := openLogin(t, px)
	p.ClickNavigate(`#kc-form-login a[href*="/login-actions/reset-credentials"]`)
	p.WaitVisible("#kc-reset-password-form")
	p.Fill("#username", "ceo")
	p.ClickNavigate(`#kc-reset-password-form [type="submit"]`)
	p.WaitVisible("#kc-reset-password-form")
	if got := p.Text(".kc-feedback-text"); got != "Call the help desk to reset this account." {
		t.Errorf("message: %q", got)
	}
	if p.Value("#username") != "ceo" {
		t.Errorf("username %q", p.Value("#username"))
	}
	// Anyone else: Keycloak's own answer.
	p.Fill("#username", testidp.TestUser.Username)
	p.ClickNavigate(`#kc-reset-password-form [type="submit"]`)
	p.WaitVisible("#kc-form-login")
	if got := p.Text(".pf-v5-c-alert.pf-m-success .kc-feedback-text"); got != "You should receive an email shortly with further instructions." {
		t.Errorf("an allowed reset: %q", got)
	}
}

// after_login, async, is told of a browser login when the client redeems
// the code.
func TestJourneyAfterLogin(t *testing.T) {
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(afterLoginHook, "__SINK__", s.URL))
	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, testidp.TestUser.Username, testidp.TestUser.Password)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	select {
	case ev := <-s.got:
		if ev["application"] != testidp.KeycloakWebClientID || ev["protocol"] != "oidc" || ev["sub"] != testidp.TestUser.Subject || ev["username"] != testidp.TestUser.Username {
			t.Errorf("after_login: %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no after_login")
	}
}

// The forms block with no hook on its events: Keycloak's own behaviour
// (login, wrong password, registration page, reset) as the baselines
// through plain Caddy show it.
func TestJourneyNoHook(t *testing.T) {
	px := startJourney(t, `exports.onBeforeToken = async () => {};`)
	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, testidp.SecondUser.Username, "not-the-password")
	p.WaitVisible("#kc-form-login")
	if got := p.Text("#input-error-username .kc-feedback-text"); got != "Invalid username or password." {
		t.Errorf("wrong password: %q", got)
	}
	loginOnKeycloak(t, p, px.Origin, testidp.SecondUser.Username, testidp.SecondUser.Password)
	if claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?")); claims["preferred_username"] != testidp.SecondUser.Username {
		t.Errorf("claims %v", claims)
	}
	p, _ = openLogin(t, px)
	p.ClickNavigate(`#kc-form-login a[href*="/login-actions/reset-credentials"]`)
	p.WaitVisible("#kc-reset-password-form")
	p.Fill("#username", "ceo")
	p.ClickNavigate(`#kc-reset-password-form [type="submit"]`)
	p.WaitVisible("#kc-form-login")
	if got := p.Text(".pf-v5-c-alert.pf-m-success .kc-feedback-text"); got != "You should receive an email shortly with further instructions." {
		t.Errorf("reset: %q", got)
	}
}

// The journey with a SAML client: Keycloak's login page of a SAML flow
// names the SP entity id as client_id, which is the hooks' application;
// after_login is raised by the SAML interceptor for the same login.
func TestJourneySAMLClient(t *testing.T) {
	s := newSink(t)
	const hook = `
exports.onAfterIdentification = async (event, api) => {
  if (event.identifier === "bob" && event.application.startsWith("urn:idphooks:e2e:sp:")) api.deny("Bob may not use " + event.application + ".");
};
exports.onAfterLogin = async (event) => {
  await fetch("__SINK__/after_login", { method: "POST", body: JSON.stringify({ application: event.application, protocol: event.protocol, sub: event.user.sub }) });
};
`
	dir := t.TempDir()
	path := filepath.Join(dir, "journey.js")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(hook, "__SINK__", s.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	px := samlProxy(t, map[string]any{
		"forms": map[string]any{"profile": map[string]any{"name": "keycloak"}},
		"hooks": []any{map[string]any{"path": path, "allow_hosts": []string{"127.0.0.1/32"}}},
	})
	sp := samlSP(t, px, "journey", testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion})
	_, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), testidp.SecondUser.Username, testidp.SecondUser.Password)
	if err == nil || !strings.Contains(err.Error(), "the login form came back") || !strings.Contains(err.Error(), "Bob may not use "+sp.EntityID()+".") {
		t.Fatalf("bob: %v", err)
	}
	res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatalf("alice: %v", err)
	}
	select {
	case ev := <-s.got:
		if ev["application"] != sp.EntityID() || ev["protocol"] != "saml" || ev["sub"] != res.NameID {
			t.Errorf("after_login: %v (NameID %s)", ev, res.NameID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no after_login")
	}
}
