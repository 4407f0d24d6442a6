package keycloak

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
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
  api.accessToken.setClaim("tier", "gold");
  try { api.idToken.setClaim("sub", "mallory"); } catch (e) { api.idToken.setClaim("sub_error", String(e.message || e)); }
};
exports.onBeforeUserinfo = async (event, api) => {
  api.userinfo.setClaim("userinfo_hook", true);
};
`

const nonce = "n-0S6_WzA2Mj"

type flow struct {
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
// from the proxy (px.Issuer()). issuer is the issuer the RP expects in
// discovery and tokens.
func codeFlow(t *testing.T, px *proxy, issuer string, c testidp.Client, user, password string) (*flow, error) {
	t.Helper()
	ctx := testCtx(t)
	hc := browser()
	ctx = oidc.ClientContext(ctx, hc)
	if issuer != px.Issuer() {
		ctx = oidc.InsecureIssuerURLContext(ctx, issuer)
	}
	provider, err := oidc.NewProvider(ctx, px.Issuer())
	if err != nil {
		t.Fatalf("discovery through idphooks: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: redirectURI,
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	conf.Endpoint.AuthStyle = c.AuthStyle
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("st4te", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	if !strings.HasPrefix(authURL, px.Origin+"/") {
		t.Fatalf("authorization endpoint is not on the proxy's origin: %s", authURL)
	}
	cb, err := testidp.Login(ctx, hc, authURL, user, password)
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
	f := &flow{provider: provider, oauth: conf, client: hc, token: tok,
		verifier: provider.Verifier(&oidc.Config{ClientID: c.ID})}
	f.rawID, _ = tok.Extra("id_token").(string)
	if f.rawID == "" {
		t.Fatal("no id_token in token response")
	}
	f.idToken, err = f.verifier.Verify(ctx, f.rawID)
	if err != nil {
		t.Fatalf("relying party rejects the ID token: %v", err)
	}
	if f.idToken.Nonce != nonce {
		t.Fatalf("nonce = %q", f.idToken.Nonce)
	}
	// Keycloak puts at_hash into code-flow ID tokens; it must match the
	// (rewritten) access token actually returned.
	if f.idToken.AccessTokenHash == "" {
		t.Error("Keycloak's ID token carries at_hash; the rewritten one has none")
	} else if err := f.idToken.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash does not match the returned access token: %v", err)
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

func discovery(t *testing.T, px *proxy) map[string]any {
	t.Helper()
	resp, err := http.Get(px.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery through idphooks: HTTP %d", resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func userinfo(t *testing.T, f *flow, tok *oauth2.Token) map[string]any {
	t.Helper()
	ui, err := f.provider.UserInfo(oidc.ClientContext(testCtx(t), f.client), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo through idphooks: %v", err)
	}
	var m map[string]any
	if err := ui.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func endSessionURL(t *testing.T, px *proxy, idTokenHint string) string {
	t.Helper()
	end, err := url.Parse(discovery(t, px)["end_session_endpoint"].(string))
	if err != nil {
		t.Fatal(err)
	}
	q := end.Query()
	q.Set("id_token_hint", idTokenHint)
	q.Set("post_logout_redirect_uri", logoutURI)
	q.Set("state", "bye")
	end.RawQuery = q.Encode()
	return end.String()
}
