package e2e

import (
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// sspJourneyHook denies bob at identification and brands the failure.
const sspJourneyHook = `
exports.onAfterIdentification = async (event, api) => {
  if (event.identifier === "bob") api.deny("Bob signs in at the partner portal.");
};
exports.onAtFailedAuthentication = async (event, api) => {
  if (event.error === "invalid_credentials" && event.form.password === "[redacted]")
    api.replaceError("Wrong password. Forgot it? Call the help desk on 555-0100.");
};
`

func sspForms(hooks ...string) map[string]any {
	// The test IdP is served at the root, not Debian's /simplesaml/.
	extra := map[string]any{"forms": map[string]any{"profile": map[string]any{"name": "simplesamlphp", "base_path": "/"}}}
	if len(hooks) > 0 {
		extra["hooks"] = e2etest.Hooks(hooks...)["hooks"]
	}
	return extra
}

// The simplesamlphp profile in front of Debian's SimpleSAMLphp, its old
// (1.19 default) and twig (2.x) templates: a login denied at
// identification shows the reason on SimpleSAMLphp's own page, a failure
// shows the brand's message in its error box, and logins still work.
func TestSimpleSAMLphpFormsJourney(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "journey.js", sspJourneyHook)
	for _, ui := range []string{"twig", "php"} {
		t.Run(ui, func(t *testing.T) {
			rig := startSSPRigWith(t, false, sspForms(hook), func(o *testidp.SimpleSAMLphpOptions) { o.NewUI = ui == "twig" })
			if _, err := rig.login(t, testidp.TestUser); err != nil {
				t.Fatalf("alice: %v", err)
			}
			_, err := rig.login(t, testidp.SecondUser)
			if err == nil || !strings.Contains(err.Error(), "the login form came back") || !strings.Contains(err.Error(), "Bob signs in at the partner portal.") {
				t.Fatalf("bob: %v", err)
			}
			wrong := testidp.TestUser
			wrong.Password = "not-" + wrong.Password
			_, err = rig.login(t, wrong)
			if err == nil || !strings.Contains(err.Error(), "the login form came back") {
				t.Fatalf("wrong password: %v", err)
			}
			// Both templates: the old ones' unmarked error box too.
			if !strings.Contains(err.Error(), "Wrong password. Forgot it?") || strings.Contains(err.Error(), "WRONGUSERPASS") || strings.Contains(err.Error(), "Incorrect username or password") {
				t.Fatalf("wrong password, %s: the brand's message is not in SimpleSAMLphp's place: %v", ui, err)
			}
			if strings.Contains(err.Error(), wrong.Password) {
				t.Fatal("the password is on the page")
			}
		})
	}
}

// The same with the forms block and no hook: SimpleSAMLphp's own
// behaviour.
func TestSimpleSAMLphpFormsNoHook(t *testing.T) {
	rig := startSSPRigWith(t, false, sspForms(), func(o *testidp.SimpleSAMLphpOptions) { o.NewUI = true })
	if _, err := rig.login(t, testidp.SecondUser); err != nil {
		t.Fatalf("bob: %v", err)
	}
	wrong := testidp.TestUser
	wrong.Password = "nope"
	if _, err := rig.login(t, wrong); err == nil || !strings.Contains(err.Error(), "WRONGUSERPASS") {
		t.Fatalf("wrong password: %v", err)
	}
}

// A generic profile written in the config for SimpleSAMLphp (its paths,
// fields, selectors, alert and messages, as README shows) gives the same
// journey as the simplesamlphp profile: bob denied on SimpleSAMLphp's own
// page, a wrong password branded, alice in.
func TestGenericProfileForSimpleSAMLphp(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "journey.js", sspJourneyHook)
	extra := map[string]any{
		"hooks": e2etest.Hooks(hook)["hooks"],
		"forms": map[string]any{"profile": map[string]any{
			"name": "generic",
			"login": map[string]any{
				"paths":       []string{"/module.php/core/loginuserpass.php", "/module.php/core/loginuserpass"},
				"identifiers": []string{"username"}, "password": "password",
				"form": "form[name=f]", "error": "div.message-box.error",
				"again_carry": []string{"AuthState"},
			},
			"php":   true,
			"alert": `<div class="message-box error"><h3>{message}</h3></div>`,
			"reasons": []map[string]string{
				{"contains": "incorrect username or password", "reason": "invalid_credentials"},
				{"contains": "WRONGUSERPASS", "reason": "invalid_credentials"},
			},
		}},
	}
	// With no hook, SimpleSAMLphp's own behaviour.
	plain := map[string]any{"forms": extra["forms"]}
	rig := startSSPRigWith(t, false, plain, func(o *testidp.SimpleSAMLphpOptions) { o.NewUI = true })
	if _, err := rig.login(t, testidp.SecondUser); err != nil {
		t.Fatalf("bob, no hook: %v", err)
	}
	nope := testidp.TestUser
	nope.Password = "nope"
	if _, err := rig.login(t, nope); err == nil || !strings.Contains(err.Error(), "WRONGUSERPASS") {
		t.Fatalf("wrong password, no hook: %v", err)
	}
	rig = startSSPRigWith(t, false, extra, func(o *testidp.SimpleSAMLphpOptions) { o.NewUI = true })
	if _, err := rig.login(t, testidp.TestUser); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if _, err := rig.login(t, testidp.SecondUser); err == nil || !strings.Contains(err.Error(), "Bob signs in at the partner portal.") {
		t.Fatalf("bob: %v", err)
	}
	wrong := testidp.TestUser
	wrong.Password = "not-" + wrong.Password
	_, err := rig.login(t, wrong)
	if err == nil || !strings.Contains(err.Error(), "Wrong password. Forgot it?") || strings.Contains(err.Error(), "WRONGUSERPASS") {
		t.Fatalf("wrong password: the brand's message is not in SimpleSAMLphp's place: %v", err)
	}
}
