package hooktest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/events"
)

func TestRunPrintsChangesLogsAndDuration(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "claims.js")
	os.WriteFile(hook, []byte(`
exports.onBeforeToken = async (event, api) => {
  console.log("grant", event.grant_type);
  api.idToken.setClaim("tier", "gold");
  api.accessToken.removeClaim("scope");
};`), 0o644)
	var out bytes.Buffer
	if err := Run(context.Background(), hook, "../examples/fixtures/before_token.json", &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"event:    before_token (onBeforeToken)",
		"duration: ",
		`api.idToken.setClaim("tier", "gold")`,
		`api.accessToken.removeClaim("scope")`,
		"INFO  grant authorization_code",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunReportsFailure(t *testing.T) {
	dir := t.TempDir()
	hook := filepath.Join(dir, "bad.js")
	os.WriteFile(hook, []byte(`exports.onAfterLogin = () => { throw new Error("boom") }`), 0o644)
	var out bytes.Buffer
	err := Run(context.Background(), hook, "../examples/fixtures/after_login.json", &out)
	if err == nil || !strings.Contains(out.String(), "failed: ") || !strings.Contains(out.String(), "boom") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
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
		hook := filepath.Join(dir, id+".js")
		os.WriteFile(hook, []byte("exports."+events.HandlerName(id)+" = (event) => { if (event.type !== "+`"`+id+`"`+") throw new Error(event.type) };"), 0o644)
		var out bytes.Buffer
		if err := Run(context.Background(), hook, fixture, &out); err != nil {
			t.Errorf("%s: %v\n%s", id, err, out.String())
		}
	}
}
