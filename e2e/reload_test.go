package e2e

import (
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// A config reload keeps what tokens in flight depend on: the signing keys
// (Caddy storage) and the swap table (the embedded store, shared across the
// reload rather than reopened while the old config still holds its lock).
func TestReloadKeepsKeysAndSwaps(t *testing.T) {
	dir := t.TempDir()
	hook := e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook)
	px := startProxy(t, zitadel, e2etest.Hooks(hook))
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	jwksBefore := e2etest.Get(t, px.Origin+"/.well-known/idphooks/jwks.json")

	// Reload with a changed hook: new hook code takes effect, old tokens
	// keep working.
	hook2 := e2etest.WriteHook(t, dir, "claims2.js", strings.Replace(e2etest.ClaimsHook, `"gold"`, `"platinum"`, -1))
	addr := strings.TrimPrefix(px.Origin, "http://")
	px2 := loadProxy(t, zitadel, e2etest.Hooks(hook2), addr, px.Dir)

	if jwksAfter := e2etest.Get(t, px2.Origin+"/.well-known/idphooks/jwks.json"); jwksAfter != jwksBefore {
		t.Errorf("signing keys changed across a reload:\n%s\n%s", jwksBefore, jwksAfter)
	}
	if _, err := f.Verifier.Verify(e2etest.Ctx(t), f.RawID); err != nil {
		t.Errorf("ID token issued before the reload no longer verifies: %v", err)
	}
	ui := e2etest.Userinfo(t, f, f.Token)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true {
		t.Errorf("userinfo with a pre-reload access token: %v", ui)
	}
	f2, err := codeFlow(t, px2, zitadel.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	if e2etest.ClaimsOf(t, f2.IDToken)["tier"] != "platinum" {
		t.Errorf("reloaded hook not in effect")
	}
}
