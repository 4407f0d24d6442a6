package e2e

import (
	"io"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/testidp"
)

// A config reload keeps what tokens in flight depend on: the signing keys
// (Caddy storage) and the swap table (the embedded store, shared across the
// reload rather than reopened while the old config still holds its lock).
func TestReloadKeepsKeysAndSwaps(t *testing.T) {
	dir := t.TempDir()
	hook := writeHook(t, dir, "claims.js", claimsHook)
	px := startProxy(t, zitadel, map[string]any{"hooks": []any{map[string]any{"path": hook}}})
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	jwksBefore := get(t, px.Origin+"/.well-known/idphooks/jwks.json")

	// Reload with a changed hook: new hook code takes effect, old tokens
	// keep working.
	hook2 := writeHook(t, dir, "claims2.js", strings.Replace(claimsHook, `"gold"`, `"platinum"`, -1))
	addr := strings.TrimPrefix(px.Origin, "http://")
	px2 := loadProxy(t, zitadel, map[string]any{"hooks": []any{map[string]any{"path": hook2}}}, addr, px.Dir)

	if jwksAfter := get(t, px2.Origin+"/.well-known/idphooks/jwks.json"); jwksAfter != jwksBefore {
		t.Errorf("signing keys changed across a reload:\n%s\n%s", jwksBefore, jwksAfter)
	}
	if _, err := f.verifier.Verify(testCtx(t), f.rawID); err != nil {
		t.Errorf("ID token issued before the reload no longer verifies: %v", err)
	}
	ui := userinfo(t, f, px2)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true {
		t.Errorf("userinfo with a pre-reload access token: %v", ui)
	}
	f2, err := codeFlow(t, px2, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	if claimsOf(t, f2.idToken)["tier"] != "platinum" {
		t.Errorf("reloaded hook not in effect")
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := browser().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
