package e2e

import (
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

func TestZitadelIssuerRewriteFullFlow(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook)
	// idphooks publishes itself as the issuer: discovery, tokens and the
	// authorization response iss change together.
	cfg := e2etest.Hooks(hook)
	cfg["issuer"] = "self"
	px := startProxy(t, zitadel, cfg)
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, px, px.Origin, c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := e2etest.ClaimsOf(t, f.IDToken)
	e2etest.AssertHookClaims(t, claims, testidp.TestUser.Subject)
	if claims["at_hash"] == nil {
		t.Error("zitadel's ID token carries at_hash; the rewritten one lost it")
	}
	if claims["iss"] != px.Origin {
		t.Fatalf("iss = %v", claims["iss"])
	}
	if id, _ := claims["request_id"].(string); len(id) != 36 {
		t.Errorf("event.request.id = %q, want Caddy's request UUID", id)
	}
	if claims["grant_seen"] != "authorization_code" {
		t.Errorf("grant_seen = %v", claims["grant_seen"])
	}

	// The JWT access token is re-signed, keeps typ, and carries the claim.
	h, p := e2etest.JWTParts(t, f.Token.AccessToken)
	if p["tier"] != "gold" || p["iss"] != px.Origin {
		t.Errorf("access token claims: %v", p)
	}
	if h["kid"] == nil {
		t.Errorf("access token header has no kid: %v", h)
	}
	e2etest.AssertJWKSSigned(t, f, px.Origin+"/.well-known/idphooks/jwks.json")

	// Userinfo with the rewritten access token: the IdP gets its own token
	// back, the answer carries the ID token's hook claims and the
	// userinfo hook's.
	ui := e2etest.Userinfo(t, f, f.Token)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true {
		t.Errorf("userinfo claims: %v", ui)
	}
	if ui["sub"] != testidp.TestUser.Subject {
		t.Errorf("userinfo sub = %v", ui["sub"])
	}

	// Refresh: a new ID token, hooks ran again, at_hash matches.
	nt := e2etest.Refresh(t, f)

	// Introspection and revocation reach the IdP with the original token.
	e2etest.IntrospectRevoke(t, f, e2etest.Discovery(t, px.Origin), c, nt.AccessToken)
}

func TestDeniedTokenGetsOAuthError(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook)
	px := startProxy(t, zitadel, e2etest.Hooks(hook))
	c, _ := zitadel.Client(testidp.ZitadelWebClientID)
	_, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.SecondUser.Username, testidp.SecondUser.Password)
	e2etest.AssertDenied(t, err)
}
