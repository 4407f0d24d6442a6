package keycloak

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/browser"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// The browser baselines: Keycloak's own login, registration and reset
// pages (theme keycloak.v2) in a real Chromium, with no hook configured,
// directly and through a plain Caddy reverse_proxy. They show the IdP's
// own behaviour, which the forms interceptor with no hook on a form's
// events must leave unchanged.

// rp is a relying party of the authorization code flow whose redirect_uri
// is the package's callback page, with discovery from issuer.
type rp struct {
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	state    string
	nonce    string
	pkce     string
}

func newRP(t *testing.T, issuer string) *rp {
	t.Helper()
	return newRPFor(t, issuer, testidp.KeycloakWebClientID)
}

// newRPFor is newRP for another client of the realm.
func newRPFor(t *testing.T, issuer, clientID string) *rp {
	t.Helper()
	c, _ := kc.Client(clientID)
	p, err := oidc.NewProvider(e2etest.Ctx(t), issuer)
	if err != nil {
		t.Fatalf("discovery at %s: %v", issuer, err)
	}
	conf := &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: browserRedirectURI(),
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
	}
	conf.Endpoint.AuthStyle = c.AuthStyle
	return &rp{oauth: conf, verifier: p.Verifier(&oidc.Config{ClientID: c.ID}),
		state: random(8), nonce: random(8), pkce: oauth2.GenerateVerifier()}
}

// authURL is the authorization request (PKCE S256, as the client requires).
func (r *rp) authURL() string {
	return r.oauth.AuthCodeURL(r.state, oidc.Nonce(r.nonce), oauth2.S256ChallengeOption(r.pkce))
}

// finish reads the authorization response the tab landed with, redeems the
// code and returns the verified ID token's claims.
func (r *rp) finish(t *testing.T, cb *url.URL) map[string]any {
	t.Helper()
	q := cb.Query()
	if q.Get("error") != "" || q.Get("state") != r.state || q.Get("code") == "" {
		t.Fatalf("authorization response: %s", cb)
	}
	tok, err := r.oauth.Exchange(e2etest.Ctx(t), q.Get("code"), oauth2.VerifierOption(r.pkce))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(e2etest.Ctx(t), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != r.nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, r.nonce)
	}
	return e2etest.ClaimsOf(t, idt)
}

// loginOnKeycloak fills Keycloak's login page, which the tab shows, and
// posts it; every URL the page posts to must be on origin.
func loginOnKeycloak(t *testing.T, p *browser.Tab, origin, user, password string) {
	t.Helper()
	p.WaitVisible("#kc-form-login")
	if action := p.Property("#kc-form-login", "action"); !strings.HasPrefix(action, origin+"/realms/"+testidp.KeycloakRealm+"/login-actions/authenticate?") {
		t.Fatalf("login form posts to %s, want Keycloak's authenticate action on %s", action, origin)
	}
	p.Fill("#username", user)
	p.Fill("#password", password)
	p.ClickNavigate("#kc-login")
}

// (a) Keycloak's own login page, reached directly.
func TestBrowserLogin(t *testing.T) {
	p := newTab(t)
	r := newRP(t, kc.Issuer())
	p.Navigate(r.authURL())
	loginOnKeycloak(t, p, strings.TrimSuffix(kc.Issuer(), "/realms/"+testidp.KeycloakRealm), testidp.TestUser.Username, testidp.TestUser.Password)
	claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	if claims["sub"] != testidp.TestUser.Subject || claims["email"] != testidp.TestUser.Email || claims["iss"] != kc.Issuer() {
		t.Errorf("ID token claims: %v", claims)
	}
}

// (b) The same through Caddy's reverse_proxy alone: every page, form
// action and endpoint is on the proxy's origin, with the hostname built
// from X-Forwarded-Host or fixed to the proxy's origin.
func TestBrowserLoginThroughCaddy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fixed bool
	}{{"dynamicHostname", dynamicHostname}, {"fixedHostname", fixedHostname}} {
		t.Run(tc.name, func(t *testing.T) {
			px := startPlainProxy(t, tc.fixed)
			p := newTab(t)
			r := newRP(t, px.Issuer())
			auth := r.authURL()
			if !strings.HasPrefix(auth, px.Origin+"/") || !strings.HasPrefix(r.oauth.Endpoint.TokenURL, px.Origin+"/") {
				t.Fatalf("endpoints not on the proxy: %s, %s", auth, r.oauth.Endpoint.TokenURL)
			}
			p.Navigate(auth)
			loginOnKeycloak(t, p, px.Origin, testidp.TestUser.Username, testidp.TestUser.Password)
			claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
			if claims["sub"] != testidp.TestUser.Subject || claims["iss"] != px.Issuer() {
				t.Errorf("ID token claims: %v", claims)
			}
		})
	}
}

// A wrong password: Keycloak shows its login page again (status 200), the
// message under the username field, the username kept, the password
// emptied, no redirect.
func TestBrowserLoginWrongPassword(t *testing.T) {
	p := newTab(t)
	r := newRP(t, kc.Issuer())
	p.Navigate(r.authURL())
	loginOnKeycloak(t, p, strings.TrimSuffix(kc.Issuer(), "/realms/"+testidp.KeycloakRealm), testidp.TestUser.Username, "not-the-password")
	p.WaitVisible("#kc-form-login")
	if got := p.Text("#input-error-username .kc-feedback-text"); got != "Invalid username or password." {
		t.Errorf("error under username: %q", got)
	}
	if p.Status() != 200 || p.Value("#username") != testidp.TestUser.Username || p.Value("#password") != "" {
		t.Errorf("status %d, username %q, password %q", p.Status(), p.Value("#username"), p.Value("#password"))
	}
}

// (c) Self-registration on Keycloak's registration page, with crm_id: the
// realm's user profile declares it, so Keycloak renders it as a field of
// the form, stores what is posted in it, and the admin REST API (as the
// idphooks-admin service account) shows it on the new user.
func TestBrowserRegistrationStoresCRMAttribute(t *testing.T) {
	p := newTab(t)
	r := newRP(t, kc.Issuer())
	p.Navigate(r.authURL())
	p.WaitVisible("#kc-form-login")
	p.ClickNavigate("#kc-registration a")
	p.WaitVisible("#kc-register-form")
	if action := p.Property("#kc-register-form", "action"); !strings.Contains(action, "/realms/"+testidp.KeycloakRealm+"/login-actions/registration?") {
		t.Fatalf("registration form posts to %s", action)
	}
	crm := `#kc-register-form [name="` + testidp.KeycloakCRMAttribute + `"]`
	if n := p.Count(crm); n != 1 {
		t.Fatalf("the registration form has %d %s fields, want the one Keycloak renders for the declared attribute", n, testidp.KeycloakCRMAttribute)
	}

	username := "reg-" + random(6)
	p.Fill("#username", username)
	p.Fill("#email", username+"@example.com")
	p.Fill("#firstName", "Reggie")
	p.Fill("#lastName", "Stration")
	p.Fill("#password", "Reg-password-1")
	p.Fill("#password-confirm", "Reg-password-1")
	// Set by script, as a page script or a hook-added value would be.
	p.SetValue(crm, "CRM-4711")
	p.ClickNavigate(`#kc-register-form [type="submit"]`)

	// Keycloak signs the new user in and finishes the authorization.
	claims := r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	if claims["preferred_username"] != username || claims["email"] != username+"@example.com" {
		t.Errorf("ID token of the new user: %v", claims)
	}
	u, err := testidp.FindKeycloakUser(e2etest.Ctx(t), kc, username)
	if err != nil || u == nil {
		t.Fatalf("the new user through the admin API: %v %v", u, err)
	}
	t.Cleanup(func() {
		if err := testidp.DeleteKeycloakUser(e2etest.Ctx(t), kc, u.ID); err != nil {
			t.Errorf("removing %s: %v", username, err)
		}
	})
	if got := u.Attributes[testidp.KeycloakCRMAttribute]; !slices.Equal(got, []string{"CRM-4711"}) {
		t.Errorf("%s of the new user = %q (attributes %v)", testidp.KeycloakCRMAttribute, got, u.Attributes)
	}
	if u.ID != claims["sub"] || u.FirstName != "Reggie" || !u.Enabled {
		t.Errorf("the new user: %+v, ID token sub %v", u, claims["sub"])
	}
}

// Password reset with no SMTP server (the realm has none): Keycloak
// answers a known and an unknown username alike, with no hint of the
// failed mail: the post is answered 200 with its login page, the username
// filled in and a success alert. The page's script then replaces the
// URL in the history with the authenticate action.
func TestBrowserResetPasswordWithoutSMTP(t *testing.T) {
	for _, tc := range []struct{ name, user string }{
		{"knownUser", testidp.TestUser.Username},
		{"unknownUser", "nobody-" + random(4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTab(t)
			r := newRP(t, kc.Issuer())
			p.Navigate(r.authURL())
			p.WaitVisible("#kc-form-login")
			p.ClickNavigate(`#kc-form-login a[href*="/login-actions/reset-credentials"]`)
			p.WaitVisible("#kc-reset-password-form")
			if action := p.Property("#kc-reset-password-form", "action"); !strings.Contains(action, "/realms/"+testidp.KeycloakRealm+"/login-actions/reset-credentials?") {
				t.Fatalf("reset form posts to %s", action)
			}
			p.Fill("#username", tc.user)
			p.ClickNavigate(`#kc-reset-password-form [type="submit"]`)
			p.WaitVisible("#kc-form-login")
			if got := p.Text(".pf-v5-c-alert.pf-m-success .kc-feedback-text"); got != "You should receive an email shortly with further instructions." {
				t.Errorf("alert after the reset post: %q", got)
			}
			if p.Status() != 200 || p.Value("#username") != tc.user || p.Exists(".pf-m-danger, .pf-m-error, #kc-error-message") {
				t.Errorf("after the reset post: status %d at %s, username %q", p.Status(), p.CurrentURL(), p.Value("#username"))
			}
		})
	}
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
