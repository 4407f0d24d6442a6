package keycloak

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery/secevent"
	"github.com/idphooks/idphooks/internal/browser"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/setreceiver"
	"github.com/idphooks/idphooks/internal/testidp"
)

// accountHook tells the test's sink of every account event (async, their
// default) and replaces Keycloak's message for a wrong one-time code.
const accountHook = `
const tell = async (event) => {
  await fetch("__SINK__/" + event.type, { method: "POST", body: JSON.stringify({
    type: event.type, application: event.application, sub: event.user.sub, username: event.user.username,
    identifier: event.identifier, form_type: event.form_type, whole: JSON.stringify(event) }) });
};
exports.onAfterPasswordReset = tell;
exports.onAfterMfaChange = tell;
exports.onAfterAccountUpdate = tell;
exports.onAfterAccountDeletion = tell;
exports.onAtFailedAuthentication = async (event, api) => {
  if (event.error === "invalid_otp") api.replaceError("Code not accepted for " + event.identifier + ". Open your authenticator app again.");
};
`

// totpCode is RFC 6238's code of secret at t, as Keycloak's default OTP
// policy computes it (HmacSHA1, 6 digits, 30 s; the key is the secret's
// bytes as the setup page posts it).
func totpCode(secret string, t time.Time) string {
	m := hmac.New(sha1.New, []byte(secret))
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], uint64(t.Unix()/30))
	m.Write(c[:])
	h := m.Sum(nil)
	o := h[len(h)-1] & 0xf
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(h[o:])&0x7fffffff)%1_000_000)
}

// codes hands out one-time codes of a secret the way Keycloak takes
// them: each 30 s window's code once, the windows beside the current one
// accepted too (its default look-around of 1).
type codes struct {
	secret string
	used   map[int64]bool
}

func (c *codes) next() string {
	now := time.Now().Unix() / 30
	for _, w := range []int64{now, now + 1, now - 1} {
		if !c.used[w] {
			c.used[w] = true
			return totpCode(c.secret, time.Unix(w*30, 0))
		}
	}
	panic("no unused window")
}

// told waits for the sink's next event.
func (s *sink) told(t *testing.T, what string) map[string]any {
	t.Helper()
	select {
	case ev := <-s.got:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s", what)
		return nil
	}
}

// A customer's account steps on Keycloak's own pages, in Chromium: the
// required actions at their first login (a one-time code device set up
// after a wrong code, a new password), a login with a wrong then a right
// code, a profile update and the account's deletion started by the
// application on the SSO session. Each success raises its event, naming
// the customer as Keycloak knows them; the wrong code's message is the
// brand's; no event holds a password, the TOTP secret or a code.
func TestJourneyAccountEvents(t *testing.T) {
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(accountHook, "__SINK__", s.URL))
	ctx := e2etest.Ctx(t)
	name := "acct-" + random(4)
	const first, second = "First-password-1", "Second-password-2"
	id, err := testidp.CreateKeycloakUser(ctx, kc, testidp.NewKeycloakUser{Username: name, Password: first,
		Email: name + "@example.com", FirstName: "Acc", LastName: "Ount", RequiredActions: []string{"CONFIGURE_TOTP", "UPDATE_PASSWORD"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(ctx, kc, id) })
	var seen []map[string]any
	check := func(ev map[string]any, typ string) {
		t.Helper()
		seen = append(seen, ev)
		if ev["type"] != typ || ev["sub"] != id || ev["username"] != name || ev["identifier"] != name || ev["application"] != testidp.KeycloakWebClientID {
			t.Errorf("%s: %v", typ, ev)
		}
	}

	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, name, first)
	p.WaitVisible("#kc-totp-settings-form")
	secret := p.Value("#totpSecret")
	otp := &codes{secret: secret, used: map[int64]bool{}}
	p.Fill("#totp", "000000")
	p.ClickNavigate(`#kc-totp-settings-form [type="submit"]`)
	p.WaitVisible("#kc-totp-settings-form")
	if !strings.Contains(p.HTML(), "Invalid authenticator code.") {
		t.Fatalf("a wrong code at the set-up: %s", p.HTML())
	}
	p.Fill("#totp", otp.next())
	p.ClickNavigate(`#kc-totp-settings-form [type="submit"]`)
	check(s.told(t, "after_mfa_change"), "after_mfa_change")
	p.WaitVisible("#kc-passwd-update-form")
	p.Fill("#password-new", second)
	p.Fill("#password-confirm", second)
	p.ClickNavigate(`#kc-passwd-update-form [type="submit"]`)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	check(s.told(t, "after_password_reset"), "after_password_reset")

	// A login with the one-time code: the wrong one shows the brand's
	// message on Keycloak's page.
	p, r = openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, name, second)
	p.WaitVisible("#kc-otp-login-form")
	p.Fill("#otp", "000000")
	p.ClickNavigate(`#kc-otp-login-form [type="submit"]`)
	p.WaitVisible("#kc-otp-login-form")
	if got := p.Text(".kc-feedback-text"); got != "Code not accepted for "+name+". Open your authenticator app again." {
		t.Errorf("message for a wrong code: %q", got)
	}
	p.Fill("#otp", otp.next())
	p.ClickNavigate(`#kc-otp-login-form [type="submit"]`)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))

	// Actions the application starts on the SSO session: no login in
	// their flow, the session's names the customer.
	r = newRP(t, px.Issuer())
	p.Navigate(r.authURL() + "&kc_action=UPDATE_PROFILE")
	p.WaitVisible("#kc-update-profile-form")
	p.Fill("#firstName", "Renamed")
	p.ClickNavigate(`#kc-update-profile-form [type="submit"]`)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	ev := s.told(t, "after_account_update")
	check(ev, "after_account_update")
	if !strings.Contains(fmt.Sprint(ev["whole"]), `"firstName":"Renamed"`) {
		t.Errorf("after_account_update's form: %v", ev["whole"])
	}

	if err := testidp.EnableKeycloakAccountDeletion(ctx, kc, id); err != nil {
		t.Fatal(err)
	}
	r = newRP(t, px.Issuer())
	p.Navigate(r.authURL() + "&kc_action=delete_account")
	reauthenticate(t, p, name, second, otp)
	p.WaitVisible("#kc-deleteaccount-form")
	p.ClickNavigate("#kc-submit")
	p.WaitVisible("#kc-info-message")
	check(s.told(t, "after_account_deletion"), "after_account_deletion")
	if u, err := testidp.FindKeycloakUser(ctx, kc, name); err != nil || u != nil {
		t.Errorf("the user after the deletion: %v %v", u, err)
	}

	for _, ev := range seen {
		whole := fmt.Sprint(ev["whole"])
		for _, secretText := range []string{first, second, secret} {
			if strings.Contains(whole, secretText) {
				t.Errorf("%s holds %q: %s", ev["type"], secretText, whole)
			}
		}
	}
	select {
	case ev := <-s.got:
		t.Errorf("an event more: %v", ev)
	case <-time.After(time.Second):
	}
}

// reauthenticate answers Keycloak's "Please re-authenticate" login (and
// its one-time code step) that an account deletion asks for when the
// session's login is older than the action's maximum age.
func reauthenticate(t *testing.T, p *browser.Tab, name, password string, otp *codes) {
	t.Helper()
	if !p.Exists("#kc-form-login") {
		return
	}
	if p.Exists("#username") && p.Value("#username") == "" {
		p.Fill("#username", name)
	}
	p.Fill("#password", password)
	p.ClickNavigate("#kc-login")
	if p.Exists("#kc-otp-login-form") {
		p.Fill("#otp", otp.next())
		p.ClickNavigate(`#kc-otp-login-form [type="submit"]`)
	}
}

// A new password set at a required action reaches a Shared Signals
// receiver as a CAEP credential-change SET for the user's Keycloak id,
// signed with the key idphooks publishes. The realm's frontend URL is the
// proxy's: the SET's iss is the issuer of the realm's discovery.
func TestJourneyPasswordChangeSET(t *testing.T) {
	rcv := setreceiver.Start(t, "", "")
	px := startJourneyWith(t, map[string]any{"shared_signals": []any{map[string]any{
		"url": rcv.URL + "/ssf", "allow_hosts": []string{"127.0.0.1"}, "events": []string{"after_password_reset"},
	}}}, fixedHostname, `exports.onBeforeToken = async () => {};`)
	rcv.JWKSURL, rcv.Issuer = px.Origin+"/.well-known/idphooks/jwks.json", px.Issuer()
	ctx := e2etest.Ctx(t)
	name := "set-" + random(4)
	id, err := testidp.CreateKeycloakUser(ctx, kc, testidp.NewKeycloakUser{Username: name, Password: "First-password-1",
		Email: name + "@example.com", FirstName: "Set", LastName: "Receiver", RequiredActions: []string{"UPDATE_PASSWORD"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(ctx, kc, id) })
	p, r := openLogin(t, px)
	loginOnKeycloak(t, p, px.Origin, name, "First-password-1")
	p.WaitVisible("#kc-passwd-update-form")
	p.Fill("#password-new", "Second-password-2")
	p.Fill("#password-confirm", "Second-password-2")
	p.ClickNavigate(`#kc-passwd-update-form [type="submit"]`)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))

	var got []setreceiver.Received
	for deadline := time.Now().Add(20 * time.Second); len(got) < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no SET (%d pushes)", rcv.Hits("/ssf"))
		}
		got = rcv.Log()
	}
	set := got[0]
	subID, _ := set.Claims["sub_id"].(map[string]any)
	evs, _ := set.Claims["events"].(map[string]any)
	change, ok := evs[secevent.CredentialChange].(map[string]any)
	if subID["format"] != "iss_sub" || subID["sub"] != id || subID["iss"] != px.Issuer() || !ok || change["credential_type"] != "password" {
		t.Fatalf("SET claims %v", set.Claims)
	}
	if b, _ := json.Marshal(set.Claims); strings.Contains(string(b), "password-2") || strings.Contains(string(b), "password-1") {
		t.Fatalf("a password in the SET: %s", b)
	}
}

// useUsernameFirstFlow gives the access-token client Keycloak's
// username-then-password browser flow for the test, and its own back
// after.
func useUsernameFirstFlow(t *testing.T) {
	t.Helper()
	restore, err := testidp.UseKeycloakUsernameFirstFlow(e2etest.Ctx(t), kc, testidp.KeycloakATClientID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Errorf("restoring the client's flow: %v", err)
		}
	})
}

// A username-then-password login (Keycloak's Username Form, then its
// Password Form, as a client's browser flow): the password step posts
// no username, yet its failure names the customer Keycloak took at the
// username step, and the account event after it names them by their
// Keycloak id.
func TestJourneyUsernameThenPassword(t *testing.T) {
	ctx := e2etest.Ctx(t)
	useUsernameFirstFlow(t)
	s := newSink(t)
	px := startJourney(t, strings.ReplaceAll(accountHook, "__SINK__", s.URL)+`
exports.onAtFailedAuthentication = async (event, api) => {
  api.replaceError("No luck, " + event.identifier + " (" + event.error + ").");
};`)
	name := "uf-" + random(4)
	id, err := testidp.CreateKeycloakUser(ctx, kc, testidp.NewKeycloakUser{Username: name, Password: "First-password-1",
		Email: name + "@example.com", FirstName: "User", LastName: "First", RequiredActions: []string{"UPDATE_PASSWORD"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testidp.DeleteKeycloakUser(ctx, kc, id) })

	p := newTab(t)
	r := newRPFor(t, px.Issuer(), testidp.KeycloakATClientID)
	p.Navigate(r.authURL())
	p.WaitVisible("#kc-form-login #username")
	if p.Exists("#kc-form-login #password") {
		t.Fatal("the username step shows a password field: not the username-first flow")
	}
	p.Fill("#username", name)
	p.ClickNavigate("#kc-login")
	p.WaitVisible("#kc-form-login #password")
	p.Fill("#password", "not-it")
	p.ClickNavigate("#kc-login")
	p.WaitVisible("#kc-form-login #password")
	if got := p.Text(".kc-feedback-text"); got != "No luck, "+name+" (invalid_credentials)." {
		t.Errorf("the password step's failure: %q", got)
	}
	p.Fill("#password", "First-password-1")
	p.ClickNavigate("#kc-login")
	p.WaitVisible("#kc-passwd-update-form")
	p.Fill("#password-new", "Second-password-2")
	p.Fill("#password-confirm", "Second-password-2")
	p.ClickNavigate(`#kc-passwd-update-form [type="submit"]`)
	r.finish(t, p.WaitURL(browserRedirectURI()+"?"))
	ev := s.told(t, "after_password_reset")
	if ev["type"] != "after_password_reset" || ev["sub"] != id || ev["identifier"] != name || ev["application"] != testidp.KeycloakATClientID {
		t.Errorf("after_password_reset: %v", ev)
	}
}
