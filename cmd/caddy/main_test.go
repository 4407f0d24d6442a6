package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/caddybin"
)

// bin is the custom Caddy, built once for this package's tests: what users
// build with `go build ./cmd/caddy`.
var bin string

func TestMain(m *testing.M) {
	var err error
	if bin, err = caddybin.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// caddy runs the binary from the repository root, with its data and config
// folders in a temporary home.
func caddy(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return caddyIn(t, "../..", args...)
}

// caddyIn runs the binary in dir.
func caddyIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+home, "XDG_CONFIG_HOME="+home, "CRM_TOKEN=test-token")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestModuleIsRegistered(t *testing.T) {
	out, err := caddy(t, "list-modules")
	if err != nil || !strings.Contains(out, "http.handlers.idp_hooks") {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
}

func TestExampleCaddyfilesAdapt(t *testing.T) {
	for _, f := range []string{"Caddyfile", "demo/Caddyfile"} {
		out, err := caddy(t, "adapt", "--config", f)
		if err != nil || !strings.Contains(out, `"handler":"idp_hooks"`) {
			t.Errorf("adapt %s: %v\n%s", f, err, out)
		}
	}
}

func TestValidateDemoCaddyfile(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(bin, "validate", "--config", "demo/Caddyfile")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "HOME="+data, "IDPHOOKS_DEMO_DATA="+data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}

func TestValidateReportsHookSyntaxErrorWithLine(t *testing.T) {
	out, err := validateHook(t, "broken.js", "exports.onBeforeToken = async (event, api) => {\n  api.idToken.setClaim(\"x\", \n};\n")
	if err == nil || !strings.Contains(out, "broken.js:3") {
		t.Fatalf("validate should fail naming broken.js:3, got %v\n%s", err, out)
	}
}

func TestHookTestCommand(t *testing.T) {
	out, err := caddy(t, "idp-hooks", "test", "demo/claims.js", "--event", "examples/fixtures/before_token.json")
	if err != nil || !strings.Contains(out, `api.idToken.setClaim("tier"`) || !strings.Contains(out, "duration") {
		t.Fatalf("idp-hooks test: %v\n%s", err, out)
	}
	if out, err := caddy(t, "idp-hooks", "test", "demo/claims.js"); err == nil {
		t.Fatalf("missing --event accepted:\n%s", out)
	}
}
