package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/testidp"
)

const claimsHook = `
exports.onBeforeToken = async (event, api) => {
  if (event.user.sub === "bob") { api.deny("bob is blocked in the CRM"); return; }
  api.idToken.setClaim("tier", "gold");
  api.idToken.setClaim("roles", ["admin", "dev"]);
  api.idToken.setClaim("grant_seen", event.grant_type);
  api.idToken.setClaim("request_id", event.request.id);
  api.accessToken.setClaim("tier", "gold");
  try { api.idToken.setClaim("sub", "mallory"); } catch (e) { api.idToken.setClaim("sub_error", String(e.message || e)); }
};
exports.onBeforeUserinfo = async (event, api) => {
  api.userinfo.setClaim("userinfo_hook", true);
};
`

type flow struct {
	t        *testing.T
	provider *oidc.Provider
	oauth    *oauth2.Config
	client   *http.Client
	verifier *oidc.IDTokenVerifier
	token    *oauth2.Token
	idToken  *oidc.IDToken
	rawID    string
}

// codeFlow runs the authorization code flow with PKCE and nonce through
// the proxy and verifies the ID token with go-oidc using only discovery
// from the proxy's origin. issuer is what the RP expects in discovery.
func codeFlow(t *testing.T, px *proxy, issuer string, c testidp.Client, user, password string, extra ...oauth2.AuthCodeOption) (*flow, error) {
	t.Helper()
	ctx := testCtx(t)
	hc := browser()
	ctx = oidc.ClientContext(ctx, hc)
	if issuer != px.Origin {
		ctx = oidc.InsecureIssuerURLContext(ctx, issuer)
	}
	provider, err := oidc.NewProvider(ctx, px.Origin)
	if err != nil {
		t.Fatalf("discovery through idphooks: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: redirectURI,
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	conf.Endpoint.AuthStyle = c.AuthStyle
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce("n-0S6_WzA2Mj"), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")}, extra...)
	cb, err := testidp.Login(ctx, hc, conf.AuthCodeURL("st4te", opts...), user, password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if cb.Query().Get("state") != "st4te" {
		t.Fatalf("state lost: %s", cb)
	}
	if iss := cb.Query().Get("iss"); iss != "" && iss != issuer {
		t.Fatalf("authorization response iss = %q, want %q", iss, issuer)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, err
	}
	f := &flow{t: t, provider: provider, oauth: conf, client: hc, token: tok,
		verifier: provider.Verifier(&oidc.Config{ClientID: c.ID})}
	f.rawID, _ = tok.Extra("id_token").(string)
	if f.rawID == "" {
		t.Fatal("no id_token in token response")
	}
	f.idToken, err = f.verifier.Verify(ctx, f.rawID)
	if err != nil {
		t.Fatalf("relying party rejects the ID token: %v", err)
	}
	if f.idToken.Nonce != "n-0S6_WzA2Mj" {
		t.Fatalf("nonce = %q", f.idToken.Nonce)
	}
	// at_hash is optional in the code flow (oidc-provider leaves it out);
	// when present it must match the access token actually returned.
	if f.idToken.AccessTokenHash != "" {
		if err := f.idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash does not match the returned access token: %v", err)
		}
	}
	return f, nil
}

func claimsOf(t *testing.T, tok *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := tok.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// jwtParts decodes a JWT's header and payload without verifying.
func jwtParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s…", tok)
	}
	var h, p map[string]any
	for i, dst := range []*map[string]any{&h, &p} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, p
}

func assertHookClaims(t *testing.T, claims map[string]any, sub string) {
	t.Helper()
	if claims["tier"] != "gold" {
		t.Errorf("tier = %v, want gold (claims %v)", claims["tier"], claims)
	}
	if roles, _ := claims["roles"].([]any); len(roles) != 2 || roles[0] != "admin" {
		t.Errorf("roles = %v", claims["roles"])
	}
	if claims["sub"] != sub {
		t.Errorf("sub = %v, want %v: protected claim changed", claims["sub"], sub)
	}
	if msg, _ := claims["sub_error"].(string); !strings.Contains(msg, "protected") {
		t.Errorf("hook was not told sub is protected: sub_error = %q", msg)
	}
}

func TestZitadelIssuerRewriteFullFlow(t *testing.T) {
	dir := t.TempDir()
	hook := writeHook(t, dir, "claims.js", claimsHook)
	// idphooks publishes itself as the issuer: discovery, tokens and the
	// authorization response iss change together.
	px := startProxy(t, zitadel, map[string]any{
		"hooks":  []any{map[string]any{"path": hook}},
		"issuer": "self",
	})
	c, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f, err := codeFlow(t, px, px.Origin, c, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := claimsOf(t, f.idToken)
	assertHookClaims(t, claims, testidp.TestUser.Subject)
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
	h, p := jwtParts(t, f.token.AccessToken)
	if p["tier"] != "gold" || p["iss"] != px.Origin {
		t.Errorf("access token claims: %v", p)
	}
	if h["kid"] == nil {
		t.Errorf("access token header has no kid: %v", h)
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(testCtx(t), f.client), px.Origin+"/.well-known/idphooks/jwks.json")
	if _, err := ks.VerifySignature(testCtx(t), f.token.AccessToken); err != nil {
		t.Errorf("access token does not verify with the published JWKS: %v", err)
	}

	// Userinfo with the rewritten access token: the IdP gets its own token
	// back, the answer carries the ID token's hook claims and the
	// userinfo hook's.
	ui := userinfo(t, f, px)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true {
		t.Errorf("userinfo claims: %v", ui)
	}
	if ui["sub"] != testidp.TestUser.Subject {
		t.Errorf("userinfo sub = %v", ui["sub"])
	}

	// Refresh: a new ID token, hooks ran again, at_hash matches.
	ts := f.oauth.TokenSource(oidc.ClientContext(testCtx(t), f.client), &oauth2.Token{RefreshToken: f.token.RefreshToken})
	nt, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh through idphooks: %v", err)
	}
	if raw, _ := nt.Extra("id_token").(string); raw == "" {
		t.Error("refresh response has no id_token")
	} else {
		idt, err := f.verifier.Verify(testCtx(t), raw)
		if err != nil {
			t.Fatalf("refreshed ID token rejected: %v", err)
		}
		if err := idt.VerifyAccessToken(nt.AccessToken); err != nil {
			t.Fatalf("refreshed at_hash: %v", err)
		}
		if c := claimsOf(t, idt); c["grant_seen"] != "refresh_token" || c["tier"] != "gold" {
			t.Errorf("refreshed claims: %v", c)
		}
	}

	// Introspection and revocation reach the IdP with the original token.
	disc := discovery(t, px)
	res, err := testidp.Introspect(testCtx(t), f.client, disc["introspection_endpoint"].(string), c, nt.AccessToken)
	if err != nil || res["active"] != true {
		t.Fatalf("introspection of the rewritten token: %v %v", res, err)
	}
	if err := testidp.Revoke(testCtx(t), f.client, disc["revocation_endpoint"].(string), c, nt.AccessToken, "access_token"); err != nil {
		t.Fatalf("revocation: %v", err)
	}
	res, err = testidp.Introspect(testCtx(t), f.client, disc["introspection_endpoint"].(string), c, nt.AccessToken)
	if err != nil || res["active"] == true {
		t.Fatalf("token still active after revocation: %v %v", res, err)
	}
}

func TestDeniedTokenGetsOAuthError(t *testing.T) {
	dir := t.TempDir()
	hook := writeHook(t, dir, "claims.js", claimsHook)
	px := startProxy(t, zitadel, map[string]any{"hooks": []any{map[string]any{"path": hook}}})
	c, _ := zitadel.Client(testidp.ZitadelWebClientID)
	_, err := codeFlow(t, px, zitadel.Issuer(), c, testidp.SecondUser.Username, testidp.SecondUser.Password)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("expected an OAuth error, got %v", err)
	}
	if re.ErrorCode != "access_denied" || re.ErrorDescription != "bob is blocked in the CRM" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("deny answer: %d %q %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
	}
}

func userinfo(t *testing.T, f *flow, px *proxy) map[string]any {
	t.Helper()
	ui, err := f.provider.UserInfo(oidc.ClientContext(testCtx(t), f.client), oauth2.StaticTokenSource(f.token))
	if err != nil {
		t.Fatalf("userinfo through idphooks: %v", err)
	}
	var m map[string]any
	if err := ui.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func discovery(t *testing.T, px *proxy) map[string]any {
	t.Helper()
	resp, err := http.Get(px.Origin + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}
