package e2e

import (
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/testidp"
)

// oidc-provider keeps its own issuer (the upstream origin) and builds its
// endpoint URLs from X-Forwarded-Host: idphooks leaves the issuer alone and
// the relying party expects the upstream's.
func TestOIDCProviderOpaqueAccessToken(t *testing.T) {
	hook := writeHook(t, t.TempDir(), "claims.js", claimsHook)
	px := startProxy(t, nodeOP, map[string]any{"hooks": []any{map[string]any{"path": hook}}})
	c, _ := nodeOP.Client(testidp.OIDCProviderPostClientID)
	f, err := codeFlow(t, px, nodeOP.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := claimsOf(t, f.idToken)
	assertHookClaims(t, claims, testidp.TestUser.Subject)
	if claims["iss"] != nodeOP.Issuer() {
		t.Errorf("iss = %v, want the upstream's", claims["iss"])
	}
	// The access token is opaque: it is the IdP's own, and userinfo still
	// reflects the ID token's hook claims.
	ui := userinfo(t, f, px)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true || ui["email"] != testidp.TestUser.Email {
		t.Errorf("userinfo claims: %v", ui)
	}

	// RP-initiated logout with the rewritten ID token as id_token_hint:
	// the IdP receives its own token back and accepts it.
	disc := discovery(t, px)
	end, _ := url.Parse(disc["end_session_endpoint"].(string))
	q := end.Query()
	q.Set("id_token_hint", f.rawID)
	q.Set("post_logout_redirect_uri", logoutURI)
	q.Set("state", "bye")
	end.RawQuery = q.Encode()
	back, err := testidp.Logout(testCtx(t), f.client, end.String())
	if err != nil {
		t.Fatalf("logout with the rewritten id_token_hint: %v", err)
	}
	if back.Query().Get("state") != "bye" {
		t.Errorf("logout redirect: %s", back)
	}
}

func TestOIDCProviderJWTAccessToken(t *testing.T) {
	hook := writeHook(t, t.TempDir(), "claims.js", claimsHook)
	px := startProxy(t, nodeOP, map[string]any{
		"hooks":   []any{map[string]any{"path": hook}},
		"signing": map[string]any{"algorithm": "ES256"},
	})
	c, _ := nodeOP.Client(testidp.OIDCProviderBasicClientID)
	f, err := codeFlow(t, px, nodeOP.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password,
		oauth2.SetAuthURLParam("resource", nodeOP.Resource),
		oauth2.SetAuthURLParam("scope", "openid profile email offline_access "+nodeOP.ResourceScope))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	assertHookClaims(t, claimsOf(t, f.idToken), testidp.TestUser.Subject)
	h, p := jwtParts(t, f.token.AccessToken)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" {
		t.Errorf("access token header = %v, want typ at+jwt (RFC 9068) and our ES256", h)
	}
	if p["tier"] != "gold" || p["aud"] != nodeOP.Resource {
		t.Errorf("access token claims = %v", p)
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(testCtx(t), f.client), discovery(t, px)["jwks_uri"].(string))
	if _, err := ks.VerifySignature(testCtx(t), f.token.AccessToken); err != nil {
		t.Errorf("access token does not verify with the published JWKS: %v", err)
	}
	// Discovery names the algorithm idphooks signs with.
	algs, _ := discovery(t, px)["id_token_signing_alg_values_supported"].([]any)
	found := false
	for _, a := range algs {
		found = found || a == "ES256"
	}
	if !found {
		t.Errorf("id_token_signing_alg_values_supported = %v, missing ES256", algs)
	}
}
