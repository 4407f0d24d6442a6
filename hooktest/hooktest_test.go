package hooktest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/events"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, hook, fixture string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), hook, fixture, &out, Options{Raised: []string{events.BeforeToken, events.AfterTokenRefresh, events.BeforeUserinfo}})
	return out.String(), err
}

func wantAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestRunPrintsCallsDiffLogsAndDuration(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "claims.js", `
exports.onBeforeToken = async (event, api) => {
  console.log("grant", event.grant_type);
  api.idToken.setClaim("tier", "gold");
  api.idToken.setClaim("name", "JANE DOE");
  api.idToken.removeClaim("email");
  api.accessToken.setClaim("crm_id", 42);
};`)
	out, err := run(t, hook, "../examples/fixtures/before_token.json")
	if err != nil {
		t.Fatal(err, out)
	}
	wantAll(t, out,
		"event:    before_token (onBeforeToken)",
		"duration: ",
		`api.idToken.setClaim("tier", "gold")`,
		"id_token:\n",
		`  + tier: "gold"`,
		`  ~ name: "Jane Doe" → "JANE DOE"`,
		`  - email: "jane@example.com"`,
		"access_token:\n",
		"  + crm_id: 42",
		"the id_token edits apply to this grant's userinfo answers too",
		"INFO  grant authorization_code",
	)
}

// What the server refuses, the CLI refuses: a protected claim throws
// where the hook sets it, and the on_error policy decides.
func TestRunAppliesProtectedClaimsAndUnlocks(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "sub.js", `exports.onBeforeToken = (event, api) => { api.idToken.setClaim("sub", "someone-else") };`)
	out, err := run(t, hook, "../examples/fixtures/before_token.json")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out)
	}
	wantAll(t, out, `failed (thrown)`, `api.idToken.setClaim: claim "sub" is protected (list it in unlock_claims`, "outcome:  denied: on_error deny; the client gets 400")
	if strings.Count(out, "api.idToken.setClaim:") != 1 {
		t.Errorf("the prefix repeats:\n%s", out)
	}

	fx := fixtureWith(t, dir, `"unlock_claims": ["sub"]`)
	out, err = run(t, hook, fx)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantAll(t, out, `  ~ sub: "248289761001" → "someone-else"`)

	fx = fixtureWith(t, dir, `"on_error": "continue"`)
	out, _ = run(t, hook, fx)
	wantAll(t, out, "the flow goes on without the hook's changes (on_error continue)")
}

func TestRunAppliesApplicationsAndMode(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "deny.js", `exports.onBeforeToken = (event, api) => api.deny("blocked")`)
	out, err := run(t, hook, fixtureWith(t, dir, `"applications": ["demo-app"]`))
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, out, `result:   skipped: application "web-app" is not in its applications (demo-app)`)

	out, _ = run(t, hook, fixtureWith(t, dir, `"applications": ["web-app"]`))
	wantAll(t, out, "outcome:  denied; the client gets 400 {\"error\":\"access_denied\",\"error_description\":\"blocked\"}")

	out, _ = run(t, hook, fixtureWith(t, dir, `"mode": "async"`))
	wantAll(t, out, "mode:     async", "ran async: told after the fact")
}

// fixtureWith writes the before_token fixture with extra top-level keys.
func fixtureWith(t *testing.T, dir, extra string) string {
	t.Helper()
	b, err := os.ReadFile("../examples/fixtures/before_token.json")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "{", "{\n  "+extra+",", 1)
	return write(t, dir, "fx.json", s)
}

func TestFixtureKeysAreTheCaddyfilesAndUnknownOnesFail(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "h.js", `exports.onBeforeToken = () => {}`)
	_, err := run(t, hook, fixtureWith(t, dir, `"allowed_hosts": ["crm.internal"]`))
	if err == nil || !strings.Contains(err.Error(), `unknown key "allowed_hosts" (the Caddyfile calls it allow_hosts)`) {
		t.Fatalf("err %v", err)
	}
	_, err = run(t, hook, fixtureWith(t, dir, `"timout": "1s"`))
	if err == nil || !strings.Contains(err.Error(), `unknown key "timout"`) {
		t.Fatalf("err %v", err)
	}
	out, err := run(t, hook, fixtureWith(t, dir, `"allow_hosts": ["crm.internal", "10.0.0.0/8"], "timeout": "300ms", "budget": "1s", "secret": {"CRM_TOKEN": "t0ken"}`))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestSecretsResolvePlaceholdersAndUndeclaredOnesThrow(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "s.js", `exports.onBeforeToken = (event, api) => { api.idToken.setClaim("crm", secrets.CRM_TOKEN) };`)
	out, err := run(t, hook, "../examples/fixtures/before_token.json")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out)
	}
	wantAll(t, out, "CRM_TOKEN is not declared")

	t.Setenv("IDPHOOKS_TEST_TOKEN", "from-env")
	out, err = run(t, hook, fixtureWith(t, dir, `"secret": {"CRM_TOKEN": "{env.IDPHOOKS_TEST_TOKEN}"}`))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantAll(t, out, `+ crm: "from-env"`)

	_, err = run(t, hook, fixtureWith(t, dir, `"secret": {"CRM_TOKEN": "{env.IDPHOOKS_TEST_UNSET}"}`))
	if err == nil || !strings.Contains(err.Error(), "secret CRM_TOKEN") {
		t.Fatalf("an unset placeholder must fail as at provision: %v", err)
	}
}

// The checks at config time are the server's: both build with events.Build.
func TestRunRefusesExportsThatLeaveAHookOff(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		`exports.onBeforToken = () => {}`: "onBeforToken matches no event (did you mean onBeforeToken?)",
		``:                                "exports no handler",
		`exports.onBeforeToken = 42`:      "onBeforeToken is exported but is not a function",
	} {
		hook := write(t, dir, "h.js", body)
		_, err := run(t, hook, "../examples/fixtures/before_token.json")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", body, err, want)
		}
	}
}

func TestRunWarnsOfEventsNoInterceptorRaises(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "later.js", `exports.onAfterLogin = () => {}`)
	out, err := run(t, hook, "../examples/fixtures/after_login.json")
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, out, "warning:  later.js handles after_login, which no interceptor raises yet")
}

func TestRunReportsFailureWithStack(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "bad.js", "exports.onBeforeToken = async (event) => {\n  const t = event.user.profile.tier;\n};\n")
	out, err := run(t, hook, "../examples/fixtures/before_token.json")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out)
	}
	wantAll(t, out, "failed (thrown): ", "TypeError", "bad.js:2:")
}

// Every catalog event has a fixture, and each runs with a hook that
// touches nothing.
func TestFixturesCoverTheCatalog(t *testing.T) {
	dir := t.TempDir()
	for _, id := range events.IDs() {
		fixture := filepath.Join("../examples/fixtures", id+".json")
		if _, err := os.Stat(fixture); err != nil {
			t.Errorf("no fixture for %s", id)
			continue
		}
		hook := write(t, dir, id+".js", "exports."+events.HandlerName(id)+" = (event) => { if (event.type !== "+`"`+id+`"`+") throw new Error(event.type) };")
		if out, err := run(t, hook, fixture); err != nil {
			t.Errorf("%s: %v\n%s", id, err, out)
		}
	}
}

// api.deny then a throw under on_error continue: the deny stands (found by
// review; the throw used to undo it).
func TestDenyThenThrowStillDenies(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "guard.js", `exports.onBeforeToken = (event, api) => {
  api.deny("blocked");
  api.idToken.setClaim("tier", event.user.tier);
};`)
	out, err := run(t, hook, fixtureWith(t, dir, `"on_error": "continue"`))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out)
	}
	wantAll(t, out, "value is null or undefined", "the hook called api.deny before it failed, and that stands", `"error_description":"blocked"`)
}

// Handlers the runtime would call are the ones checked: a non-enumerable
// or inherited one counts, a misspelled non-enumerable one is refused.
func TestHiddenHandlersAreSeen(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "hidden.js", `Object.defineProperty(exports, "onBeforeToken", { value: (e, api) => api.idToken.setClaim("tier", "gold") });`)
	out, err := run(t, hook, "../examples/fixtures/before_token.json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantAll(t, out, `+ tier: "gold"`)
	hook = write(t, dir, "class.js", `class H { onBeforeToken(e, api) { api.idToken.setClaim("tier", "silver") } }
module.exports = new H();`)
	out, err = run(t, hook, "../examples/fixtures/before_token.json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	wantAll(t, out, `+ tier: "silver"`)
	hook = write(t, dir, "typo.js", `exports.onBeforeToken = () => {};
Object.defineProperty(exports, "onBeforeUserInfo", { value: () => {} });`)
	if _, err := run(t, hook, "../examples/fixtures/before_token.json"); err == nil || !strings.Contains(err.Error(), "did you mean onBeforeUserinfo?") {
		t.Fatalf("err %v", err)
	}
}

// An async hook that throws fails the test run, with its message.
func TestAsyncFailureIsReported(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "a.js", `exports.onAfterLogin = async (event) => { throw new Error("crm down") };`)
	out, err := run(t, hook, "../examples/fixtures/after_login.json")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out)
	}
	wantAll(t, out, "the async run failed (thrown)", "crm down", "a.js:1:")
}

// The workbench shows what a SAML hook changes in the assertion the SP
// receives: the NameID and the attributes.
func TestRunShowsAssertionChanges(t *testing.T) {
	dir := t.TempDir()
	hook := write(t, dir, "attrs.js", `exports.onBeforeSamlAssertion = (event, api) => {
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.setAttribute("email", ["JANE@example.com"]);
  api.assertion.removeAttribute("Role");
  api.assertion.setNameID("crm-42", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
};`)
	out, err := run(t, hook, "../examples/fixtures/before_saml_assertion.json")
	if err != nil {
		t.Fatal(err)
	}
	wantAll(t, out,
		"name_id:\n  ~ \"jane@example.com\" (urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress) → \"crm-42\" (urn:oasis:names:tc:SAML:2.0:nameid-format:persistent)",
		"attributes:\n", `  ~ email: ["jane@example.com"] → ["JANE@example.com"]`, `  - Role: ["staff","admins"]`, `  + tier: ["gold"]`)
}
