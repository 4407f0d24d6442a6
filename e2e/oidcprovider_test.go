package e2e

import (
	"testing"

	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// oidc-provider keeps its own issuer (the upstream origin) and builds its
// endpoint URLs from X-Forwarded-Host: idphooks leaves the issuer alone and
// the relying party expects the upstream's.
func TestOIDCProviderOpaqueAccessToken(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook)
	px := startProxy(t, nodeOP, e2etest.Hooks(hook))
	c, _ := nodeOP.Client(testidp.OIDCProviderPostClientID)
	f, err := codeFlow(t, px, nodeOP.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := e2etest.ClaimsOf(t, f.IDToken)
	e2etest.AssertHookClaims(t, claims, testidp.TestUser.Subject)
	if claims["iss"] != nodeOP.Issuer() {
		t.Errorf("iss = %v, want the upstream's", claims["iss"])
	}
	// The access token is opaque: it is the IdP's own, and userinfo still
	// reflects the ID token's hook claims.
	ui := e2etest.Userinfo(t, f, f.Token)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true || ui["email"] != testidp.TestUser.Email {
		t.Errorf("userinfo claims: %v", ui)
	}

	// RP-initiated logout with the rewritten ID token as id_token_hint:
	// the IdP receives its own token back and accepts it.
	e2etest.Logout(t, f, e2etest.Discovery(t, px.Origin), logoutURI)
}

func TestOIDCProviderJWTAccessToken(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook)
	cfg := e2etest.Hooks(hook)
	cfg["signing"] = map[string]any{"algorithm": "ES256"}
	px := startProxy(t, nodeOP, cfg)
	c, _ := nodeOP.Client(testidp.OIDCProviderBasicClientID)
	f, err := codeFlow(t, px, nodeOP.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password,
		oauth2.SetAuthURLParam("resource", nodeOP.Resource),
		oauth2.SetAuthURLParam("scope", "openid profile email offline_access "+nodeOP.ResourceScope))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	e2etest.AssertHookClaims(t, e2etest.ClaimsOf(t, f.IDToken), testidp.TestUser.Subject)
	h, p := e2etest.JWTParts(t, f.Token.AccessToken)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" {
		t.Errorf("access token header = %v, want typ at+jwt (RFC 9068) and our ES256", h)
	}
	if p["tier"] != "gold" || p["aud"] != nodeOP.Resource {
		t.Errorf("access token claims = %v", p)
	}
	e2etest.AssertJWKSSigned(t, f, e2etest.Discovery(t, px.Origin)["jwks_uri"].(string))
	// Discovery names the algorithm idphooks signs with.
	algs, _ := e2etest.Discovery(t, px.Origin)["id_token_signing_alg_values_supported"].([]any)
	found := false
	for _, a := range algs {
		found = found || a == "ES256"
	}
	if !found {
		t.Errorf("id_token_signing_alg_values_supported = %v, missing ES256", algs)
	}
}
