package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/delivery/webhook"
)

// validateHook runs `caddy validate` on a config whose one hook, file
// name, has body.
func validateHook(t *testing.T, name, body string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	hook := filepath.Join(dir, name)
	os.WriteFile(hook, []byte(body), 0o600)
	cf := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cf, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s/storage
}
:0 {
	idp_hooks {
		upstream http://127.0.0.1:9
		state %s/state.db
		hook %s
	}
	reverse_proxy 127.0.0.1:9
}
`, dir, dir, hook)), 0o600)
	return caddy(t, "validate", "--config", cf)
}

// What a new user met: each of these gave "Valid configuration".
func TestValidateRefusesHooksThatWouldStaySilentlyOff(t *testing.T) {
	for body, want := range map[string]string{
		`exports.onBeforToken = async (event, api) => {}`: "onBeforToken matches no event (did you mean onBeforeToken?)",
		``:                           "exports no handler",
		`exports.onBeforeToken = 42`: "onBeforeToken is exported but is not a function",
	} {
		out, err := validateHook(t, "hook.js", body)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("%q: validate %v, want %q in\n%s", body, err, want, out)
		}
	}
}

// A handler nobody raises yet is valid but warned about; an upstream that
// is down at start is a warning too, not a silent first-request 502.
func TestValidateWarnsOfUnraisedEventsAndADownUpstream(t *testing.T) {
	out, err := validateHook(t, "hook.js", `exports.onAfterRegistration = () => {}; exports.onBeforeToken = () => {};`)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	for _, want := range []string{"hook handles an event no configured interceptor raises", `"event":"after_registration"`,
		"upstream identity provider not usable yet", "127.0.0.1:9"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func TestHookTestCommandUsesTheServersChecks(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "sub.js")
	os.WriteFile(hook, []byte(`exports.onBeforeToken = (event, api) => { api.idToken.setClaim("sub", "x") };`), 0o600)
	out, err := caddy(t, "idp-hooks", "test", hook, "--event", "examples/fixtures/before_token.json")
	if err == nil || !strings.Contains(out, `claim "sub" is protected`) {
		t.Fatalf("idp-hooks test passed a hook the server refuses: %v\n%s", err, out)
	}
	if strings.Count(out, "api.idToken.setClaim:") != 1 {
		t.Errorf("prefix repeated:\n%s", out)
	}
}

func TestHookTestCommandPrintsAStack(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "tier.js")
	os.WriteFile(hook, []byte("exports.onBeforeToken = async (event, api) => {\n  api.idToken.setClaim(\"tier\", event.user.profile.tier);\n};\n"), 0o600)
	out, err := caddy(t, "idp-hooks", "test", hook, "--event", "examples/fixtures/before_token.json")
	if err == nil || !strings.Contains(out, "TypeError") || !strings.Contains(out, "tier.js:2:") {
		t.Fatalf("want the TypeError with tier.js:2:col: %v\n%s", err, out)
	}
}

func TestInitWritesAWorkingStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks")
	out, err := caddy(t, "idp-hooks", "init", dir)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	for _, f := range []string{"idphooks.d.ts", "jsconfig.json", "hook.js", "before_token.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not write %s:\n%s", f, out)
		}
	}
	out, err = caddy(t, "idp-hooks", "test", filepath.Join(dir, "hook.js"), "--event", filepath.Join(dir, "before_token.json"))
	if err != nil {
		t.Fatalf("the starter hook fails on the starter event: %v\n%s", err, out)
	}
	if out, err := caddy(t, "idp-hooks", "init", dir); err == nil {
		t.Fatalf("init overwrote files:\n%s", out)
	}
}

// Every full config README shows is valid as shown (run from the
// repository root, as README's commands are).
func TestREADMEConfigsValidate(t *testing.T) {
	// The secrets README's configs read from the environment, set as a
	// user would set them.
	t.Setenv("CRM_WEBHOOK_SECRET", webhook.GenerateSecret())
	// Cluster mode's: Redis is not contacted at start, the shared storage
	// is written (the swap secret).
	t.Setenv("REDIS_ADDR", "127.0.0.1:6379")
	t.Setenv("REDIS_PASSWORD", "redis-password")
	t.Setenv("SHARED_STORAGE", t.TempDir())
	// Shared Signals': the push endpoint's bearer token.
	t.Setenv("SSF_TOKEN", "ssf-token")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```(caddyfile|json)\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	n := 0
	for i, b := range blocks {
		kind, body := b[1], b[2]
		dir := t.TempDir()
		var cf string
		switch {
		case strings.Contains(body, "<") || strings.Contains(body, "…"):
			continue // syntax summaries and sample output
		case kind == "caddyfile" && strings.Contains(body, "idp_hooks"):
			cf = filepath.Join(dir, "Caddyfile")
			os.WriteFile(cf, []byte(body), 0o600)
		case kind == "json" && strings.Contains(body, `"handler": "idp_hooks"`):
			// A handler: put it in a server of its own.
			cf = filepath.Join(dir, "caddy.json")
			os.WriteFile(cf, []byte(`{"apps":{"http":{"servers":{"s":{"listen":[":0"],"routes":[{"handle":[`+body+`]}]}}}}}`), 0o600)
		default:
			continue
		}
		n++
		if out, err := caddyIn(t, readmeDir(t), "validate", "--config", cf); err != nil {
			t.Errorf("README block %d (%s) does not validate: %v\n%s\n%s", i, kind, err, body, out)
		}
	}
	if n < 3 {
		t.Fatalf("only %d README configs found", n)
	}
}

// readmeDir is a folder where README's relative paths resolve: demo/ and
// examples/ are the repository's, files a config creates (./events.jsonl) stay out of
// the checkout.
func readmeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	demo, err := filepath.Abs("../../demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(demo, filepath.Join(dir, "demo")); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(examples, filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// README's `caddy run --config Caddyfile` failed at once on an unset CRM
// secret: the example now provisions as it stands.
func TestTopLevelCaddyfileValidates(t *testing.T) {
	if out, err := caddy(t, "validate", "--config", "Caddyfile"); err != nil {
		t.Fatalf("validate Caddyfile: %v\n%s", err, out)
	}
}

// replay through the binary: a recorded event on which the configured
// hook set tier gold, replayed against a version that sets platinum,
// differs, and the exit status says so; the same version does not.
func TestReplayCommand(t *testing.T) {
	dir := t.TempDir()
	fixture, err := os.ReadFile("../../examples/fixtures/before_token.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal(fixture, &fx); err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"v": 1, "recorded_at": "2026-12-01T10:00:00Z", "event": fx.Event, "outcome": "continued",
		"hooks": []any{map[string]any{"hook": "tier.js", "mode": "sync", "status": "ran",
			"ops": []any{map[string]any{"object": "idToken", "method": "setClaim", "args": []any{"tier", "gold"}}}}}}
	line, _ := json.Marshal(rec)
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, append(line, '\n'), 0o600)

	same := filepath.Join(dir, "tier.js")
	os.WriteFile(same, []byte(`exports.onBeforeToken = (e, api) => api.idToken.setClaim("tier", "gold");`), 0o600)
	if out, err := caddy(t, "idp-hooks", "replay", same, "--events", events); err != nil || !strings.Contains(out, "1 same, 0 differ") {
		t.Fatalf("same version: %v\n%s", err, out)
	}
	changed := filepath.Join(t.TempDir(), "tier.js")
	os.WriteFile(changed, []byte(`exports.onBeforeToken = (e, api) => api.idToken.setClaim("tier", "platinum");`), 0o600)
	out, err := caddy(t, "idp-hooks", "replay", changed, "--events", events)
	if err == nil || !strings.Contains(out, "DIFFERS") || !strings.Contains(out, `"platinum"`) || !strings.Contains(out, "0 same, 1 differ") {
		t.Fatalf("changed version: %v\n%s", err, out)
	}
}
