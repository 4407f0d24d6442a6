package keycloak_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/delivery/redisqueue"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/keycloak"
	"github.com/idphooks/idphooks/redisconn"
)

// accountHook is told of every account event, async.
const accountHook = `
exports.onAfterPasswordReset = function(e) {};
exports.onAfterMfaChange = function(e) {};
exports.onAfterAccountUpdate = function(e) {};
exports.onAfterAccountDeletion = function(e) {};
`

// The account steps after a login raise their events on Keycloak's
// success answer, naming the customer the flow's login named (as the
// directory knows them), never a password, a TOTP secret or code.
func TestAccountEventsNameTheFlowsLogin(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	if w := h.postIn(t, "sess-jane", loginPath, "username=jane&password=right-password&credentialId="); w.Code != http.StatusFound {
		t.Fatalf("login: %d", w.Code)
	}
	// Failures raise nothing.
	if w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=other"); w.Code != 200 || !strings.Contains(w.Body.String(), "Passwords don&#39;t match.") {
		t.Fatalf("mismatch: %d %s", w.Code, w.Body)
	}
	if w := h.postIn(t, "sess-jane", actionPath+"CONFIGURE_TOTP", "totp=000000&totpSecret=S3CR3TS3CR3T&userLabel=phone"); w.Code != 200 || !strings.Contains(w.Body.String(), "Invalid authenticator code.") {
		t.Fatalf("wrong code: %d", w.Code)
	}
	if got := h.asyncEvents(1); len(got) != 0 {
		t.Fatalf("failed steps raised %v", got)
	}
	// Successes: the next step in the answer, a redirect to the app.
	if w := h.postIn(t, "sess-jane", actionPath+"CONFIGURE_TOTP", "totp=123456&totpSecret=S3CR3TS3CR3T&userLabel=phone"); w.Code != 200 || !strings.Contains(w.Body.String(), "kc-passwd-update-form") {
		t.Fatalf("totp set up: %d", w.Code)
	}
	if w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1&logout-sessions=on"); w.Code != http.StatusFound {
		t.Fatalf("password: %d", w.Code)
	}
	if w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PROFILE", "email=jane%40example.com&firstName=Janet&lastName=Doe"); w.Code != http.StatusFound {
		t.Fatalf("profile: %d", w.Code)
	}
	if w := h.postIn(t, "sess-jane", actionPath+"delete_account", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "User deleted successfully") {
		t.Fatalf("deletion: %d", w.Code)
	}
	got := map[string]*events.Event{}
	for _, ev := range h.asyncEvents(4) {
		if got[ev.Type] != nil {
			t.Errorf("%s raised twice", ev.Type)
		}
		got[ev.Type] = ev
	}
	for _, id := range []string{events.AfterMFAChange, events.AfterPasswordReset, events.AfterAccountUpdate, events.AfterAccountDeletion} {
		ev := got[id]
		if ev == nil {
			t.Errorf("no %s", id)
			continue
		}
		if ev.Application != "web" {
			t.Errorf("%s for %q", id, ev.Application)
		}
		// Deleted by then, jane is named as the directory knew her
		// before the deletion's post.
		if ev.User["sub"] != "id-jane" || ev.User["username"] != "jane" || ev.User["email"] != "jane@example.com" || ev.Data["identifier"] != "jane" {
			t.Errorf("%s: user %v, identifier %v", id, ev.User, ev.Data["identifier"])
		}
		text := mapText(ev.Map())
		for _, secret := range []string{"New-pass-1", "123456", "S3CR3TS3CR3T", "right-password"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q: %s", id, secret, text)
			}
		}
	}
	if len(got) != 4 {
		t.Fatalf("events %v", got)
	}
	if f, _ := got[events.AfterAccountUpdate].Data["form"].(map[string]any); f["firstName"] != "Janet" {
		t.Errorf("after_account_update form: %v", got[events.AfterAccountUpdate].Data["form"])
	}
	if f, _ := got[events.AfterMFAChange].Data["form"].(map[string]any); f["userLabel"] != "phone" || got[events.AfterMFAChange].Data["mfa_type"] != "totp" || got[events.AfterMFAChange].Data["action"] != "added" || f["totp"] != "[redacted]" || f["totpSecret"] != "[redacted]" {
		t.Errorf("after_mfa_change form: %v", got[events.AfterMFAChange].Data["form"])
	}
	if f, _ := got[events.AfterPasswordReset].Data["form"].(map[string]any); f["password-new"] != "[redacted]" || f["password-confirm"] != "[redacted]" {
		t.Errorf("after_password_reset form: %v", got[events.AfterPasswordReset].Data["form"])
	}
	if logged := h.loggedText(); strings.Contains(logged, "New-pass-1") || strings.Contains(logged, "S3CR3TS3CR3T") || strings.Contains(logged, "123456") {
		t.Errorf("a secret was logged:\n%s", logged)
	}
}

// Answers that did nothing raise nothing: Keycloak sending the post back
// to the step its session is on, an expired step, a cancelled action.
func TestAccountEventsOnlyOnSuccess(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	h.postIn(t, "sess-jane", loginPath, "username=jane&password=right-password")
	h.kc.current = "CONFIGURE_TOTP"
	if w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1"); w.Code != http.StatusFound {
		t.Fatalf("bounce: %d", w.Code)
	}
	// The same spelled in another case: Keycloak compares exactly, and
	// sends it back too.
	h.postIn(t, "sess-jane", actionPath+"update_password", "password-new=New-pass-1&password-confirm=New-pass-1")
	h.kc.current = ""
	h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1&used=1")
	h.postIn(t, "sess-jane", actionPath+"CONFIGURE_TOTP", "cancel-aia=true&totp=&totpSecret=S3CR3TS3CR3T")
	if got := h.asyncEvents(1); len(got) != 0 {
		t.Fatalf("answers that did nothing raised %v", got)
	}
	if n := h.kc.posts(); n != 5 {
		t.Fatalf("%d posts reached Keycloak, want 5", n)
	}
}

// A flow whose login was not seen still raises its event, naming nobody;
// a login idphooks saw names only its own flow, and a request with two
// session cookies names none.
func TestAccountEventsOfAnotherFlow(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	h.postIn(t, "sess-jane", loginPath, "username=jane&password=right-password")
	// A failed login names nobody either.
	h.postIn(t, "sess-mallory", loginPath, "username=jane&password=wrong")
	h.postIn(t, "sess-mallory", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1")
	r := newPost(actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1")
	r.Header.Add("Cookie", "AUTH_SESSION_ID=sess-mallory; AUTH_SESSION_ID=sess-jane")
	h.serve(t, r)
	got := h.asyncEvents(2)
	if len(got) != 2 {
		t.Fatalf("events: %v", got)
	}
	for _, ev := range got {
		if ev.Type != events.AfterPasswordReset || len(ev.User) != 0 || ev.Data["identifier"] != nil {
			t.Errorf("%s names %v (%v)", ev.Type, ev.User, ev.Data["identifier"])
		}
	}
}

// With no hook on the account events, their posts and answers pass
// untouched, and logins are not read for them.
func TestAccountStepsUntouchedWithoutHooks(t *testing.T) {
	h := newHarness(t, `exports.onBeforeToken = function(e) {};`)
	w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1")
	if w.Code != http.StatusFound {
		t.Fatalf("status %d", w.Code)
	}
	// Not read: a body Keycloak alone would judge reaches it as it is.
	h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=a&password-new=b")
	if reqs := h.kc.requests(); len(reqs) != 2 || reqs[1].body != "password-new=a&password-new=b" {
		t.Fatalf("requests %v", reqs)
	}
}

// A repeated field on an account step is refused: the event would say
// one thing while Keycloak did another.
func TestAccountStepRepeatedFieldRefused(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PROFILE", "firstName=A&firstName=B")
	if w.Code != http.StatusBadRequest || h.kc.posts() != 0 {
		t.Fatalf("status %d, %d posts", w.Code, h.kc.posts())
	}
}

// The one-time code step: a wrong code raises at_failed_authentication
// with invalid_otp, replaceError puts the brand's message on Keycloak's
// page, and the code is in no event and no log line.
func TestOTPFailure(t *testing.T) {
	h := newHarness(t, `exports.onAtFailedAuthentication = async (e, api) => {
  if (e.error === "invalid_otp" && e.form_type === "otp") api.replaceError("Wrong code: " + JSON.stringify(e.form) + " for " + e.identifier);
};`+accountHook)
	h.kc.addUser("otp-jo", "jo-password")
	if w := h.postIn(t, "sess-jo", loginPath, "username=otp-jo&password=jo-password"); w.Code != 200 || !strings.Contains(w.Body.String(), "kc-otp-login-form") {
		t.Fatalf("login: %d", w.Code)
	}
	w := h.postIn(t, "sess-jo", loginPath, "selectedCredentialId=cred-1&otp=654321&login=Sign+In")
	body := w.Body.String()
	for _, want := range []string{`Wrong code: {`, `&#34;otp&#34;:&#34;[redacted]&#34;`, `&#34;selectedCredentialId&#34;:&#34;cred-1&#34;`, `} for otp-jo`} {
		if w.Code != 200 || !strings.Contains(body, want) {
			t.Fatalf("page: %d, no %s\n%s", w.Code, want, body)
		}
	}
	if strings.Contains(body, "Invalid authenticator code.") || strings.Contains(body, "654321") {
		t.Fatalf("Keycloak's message or the code is still on the page:\n%s", body)
	}
	// A login post that met the code step (a username added to it) is
	// read by the page Keycloak shows.
	w = h.postIn(t, "sess-jo", loginPath, "username=otp-jo&password=x&otp=654321")
	if !strings.Contains(w.Body.String(), "Wrong code: ") {
		t.Fatalf("the code step's failure under a login post was not read:\n%s", w.Body)
	}
	if logged := h.loggedText(); strings.Contains(logged, "654321") {
		t.Fatalf("the code was logged:\n%s", logged)
	}
	// The right code moves on.
	if w := h.postIn(t, "sess-jo", loginPath, "selectedCredentialId=cred-1&otp=123456"); w.Code != http.StatusFound {
		t.Fatalf("right code: %d", w.Code)
	}
}

// A login whose next step is the code page counts as a success: the
// flow's account events name its customer.
func TestAccountEventsAfterCodeStep(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	h.kc.addUser("otp-jo", "jo-password")
	h.postIn(t, "sess-jo", loginPath, "username=otp-jo&password=jo-password")
	// A login post met by the code step, which failed: no success of a
	// login as jane.
	if w := h.postIn(t, "sess-jo", loginPath, "username=jane&password=right-password&otp=000000"); !strings.Contains(w.Body.String(), "kc-otp-login-form") {
		t.Fatalf("the code step: %s", w.Body)
	}
	h.postIn(t, "sess-jo", loginPath, "selectedCredentialId=cred-1&otp=123456")
	h.postIn(t, "sess-jo", actionPath+"UPDATE_PROFILE", "firstName=Jo")
	got := h.asyncEvents(1)
	if len(got) != 1 || got[0].User["sub"] != "id-otp-jo" {
		t.Fatalf("events %v", got)
	}
}

// An account event the queue cannot keep stops Keycloak's answer, as a
// login's after_login does: the customer is asked to try again.
func TestAccountEventQueueRefused(t *testing.T) {
	conn, err := redisconn.Open(redisconn.Options{Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, err := redisqueue.New(conn, redisqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	h := newHarness(t, "")
	disp := events.NewDispatcher(nil, events.Options{Outbox: q, Logger: zap.NewNop(),
		Receivers: []events.Receiver{{Name: "siem", Events: []string{events.AfterPasswordReset}}}})
	prof, err := keycloak.New("acme")
	if err != nil {
		t.Fatal(err)
	}
	if h.ic, err = forms.New(forms.Config{Profile: prof, Directory: h.dir, Dispatcher: disp, MaxBody: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	h.postIn(t, "sess-jane", loginPath, "username=jane&password=right-password")
	w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), "please try again") {
		t.Fatalf("status %d, Location %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
}

// A username-then-password login: the password step names nobody, so
// its events carry the identifier Keycloak took at the username step of
// the same flow, and the account events after it name the customer.
func TestUsernameThenPassword(t *testing.T) {
	h := newHarness(t, `exports.onAtFailedAuthentication = async (e, api) => { api.replaceError("No luck, " + e.identifier + "."); };
exports.onAfterIdentification = async (e, api) => { if (e.identifier === "bob") api.deny("Not bob."); };`+accountHook)
	h.kc.addUser("mallory", "mallory-password")
	if w := h.postIn(t, "sess-jane", usernamePath, "username=jane"); !strings.Contains(w.Body.String(), `data-page-id="login-login-password"`) {
		t.Fatalf("username step: %s", w.Body)
	}
	if w := h.postIn(t, "sess-jane", passwordPath, "password=wrong"); !strings.Contains(w.Body.String(), "No luck, jane.") {
		t.Fatalf("a wrong password: %s", w.Body)
	}
	if w := h.postIn(t, "sess-jane", passwordPath, "password=right-password"); w.Code != http.StatusFound {
		t.Fatalf("the right one: %d", w.Code)
	}
	// after_identification ran at the username step, not again.
	if w := h.postIn(t, "sess-bob", usernamePath, "username=bob"); !strings.Contains(w.Body.String(), "Not bob.") {
		t.Fatalf("bob: %s", w.Body)
	}

	// Mallory's flow: a post naming jane that Keycloak does not act on
	// (a used session_code, to the password step) leaves the flow
	// Mallory's.
	h.postIn(t, "sess-m", usernamePath, "username=mallory")
	h.postIn(t, "sess-m", strings.Replace(passwordPath, "SC3", "SC-used", 1), "username=jane")
	if w := h.postIn(t, "sess-m", passwordPath, "password=wrong"); !strings.Contains(w.Body.String(), "No luck, mallory.") {
		t.Fatalf("Mallory's wrong password: %s", w.Body)
	}
	h.postIn(t, "sess-m", passwordPath, "password=mallory-password")

	h.postIn(t, "sess-jane", actionPath+"UPDATE_PROFILE", "firstName=Jane")
	h.postIn(t, "sess-m", actionPath+"UPDATE_PROFILE", "firstName=Mal")
	got := h.asyncEvents(2)
	users := map[any]any{}
	for _, ev := range got {
		f, _ := ev.Data["form"].(map[string]any)
		users[f["firstName"]] = ev.User["sub"]
	}
	if len(got) != 2 || users["Jane"] != "id-jane" || users["Mal"] != "id-mallory" {
		t.Fatalf("events name %v", users)
	}
}

// A hook configured to run sync on an account event that fails with
// on_error deny keeps Keycloak's next page from the browser, with the
// generic message, never the hook's error.
func TestAccountEventSyncHookFails(t *testing.T) {
	h := newHarness(t, `exports.onAfterPasswordReset = async () => { throw new Error("crm down: secret-detail"); };`,
		withMode("sync"), withOnError("deny"))
	h.postIn(t, "sess-jane", loginPath, "username=jane&password=right-password")
	w := h.postIn(t, "sess-jane", actionPath+"UPDATE_PASSWORD", "password-new=New-pass-1&password-confirm=New-pass-1")
	if w.Code != http.StatusForbidden || w.Header().Get("Location") != "" || !strings.Contains(w.Body.String(), forms.HookFailed) || strings.Contains(w.Body.String(), "secret-detail") {
		t.Fatalf("status %d, Location %q: %s", w.Code, w.Header().Get("Location"), w.Body)
	}
}

func newPost(path, body string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RequestURI = path
	return r
}

// A session remembered for one customer whose account step Keycloak ends
// for another (a login post whose username Keycloak ignored, seen by no
// node that could doubt it): the event names the user of the
// KEYCLOAK_IDENTITY cookie Keycloak's answer sets, by id alone.
func TestAccountEventNamesKeycloaksUser(t *testing.T) {
	h := newHarness(t, accountHook, withMode("async"))
	h.postIn(t, "sess-x", loginPath, "username=jane&password=right-password")
	h.kc.identity = "id-bob"
	if w := h.postIn(t, "sess-x", actionPath+"UPDATE_PROFILE", "email=b%40example.com&firstName=B&lastName=B"); w.Code != http.StatusFound {
		t.Fatalf("profile: %d", w.Code)
	}
	// The same user: named in full.
	h.kc.identity = "id-jane"
	h.postIn(t, "sess-x", actionPath+"UPDATE_PROFILE", "email=j%40example.com&firstName=J&lastName=J")
	got := h.asyncEvents(2)
	if len(got) != 2 {
		t.Fatalf("events %v", got)
	}
	if u := got[0].User; len(u) != 1 || u["sub"] != "id-bob" || got[0].Data["identifier"] != nil {
		t.Errorf("another user's step: user %v, identifier %v", u, got[0].Data["identifier"])
	}
	if u := got[1].User; u["sub"] != "id-jane" || u["username"] != "jane" || got[1].Data["identifier"] != "jane" {
		t.Errorf("jane's step: user %v, identifier %v", u, got[1].Data["identifier"])
	}
	if !strings.Contains(h.loggedText(), "another user") {
		t.Errorf("the mismatch was not logged:\n%s", h.loggedText())
	}
}
