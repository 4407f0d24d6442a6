package e2etest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/testidp"
)

// ClaimsHook is the hook the flows run: it denies bob, adds claims to the
// ID token (tier, roles, grant_seen, request_id), the access token (tier)
// and userinfo (userinfo_hook), and records in sub_error how an attempt to
// change the protected sub claim was refused. AssertHookClaims checks it.
const ClaimsHook = `
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

// Hooks is the idp_hooks "hooks" field for hook files at paths, in order.
func Hooks(paths ...string) map[string]any {
	hooks := make([]any, len(paths))
	for i, p := range paths {
		hooks[i] = map[string]any{"path": p}
	}
	return map[string]any{"hooks": hooks}
}

// AssertDenied checks that err, from CodeFlow's code exchange, is
// ClaimsHook's deny for bob as an OAuth error: 400 access_denied with the
// hook's reason.
func AssertDenied(t testing.TB, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("expected an OAuth error, got %v", err)
	}
	if re.ErrorCode != "access_denied" || re.ErrorDescription != "bob is blocked in the CRM" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("deny answer: %d %q %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
	}
}

// Nonce is the nonce CodeFlow sends and requires back in the ID token.
const Nonce = "n-0S6_WzA2Mj"

// Flow is a finished authorization code flow.
type Flow struct {
	Provider *oidc.Provider        // discovery as the relying party got it
	OAuth    *oauth2.Config        // the client, endpoints from discovery
	Client   *http.Client          // the browser, with the provider's session cookies
	Verifier *oidc.IDTokenVerifier // trusts only the discovered JWKS
	Token    *oauth2.Token         // the token response
	IDToken  *oidc.IDToken         // its ID token, verified
	RawID    string                // its ID token as sent
}

// FlowConfig is what CodeFlow needs.
type FlowConfig struct {
	// DiscoveryURL is the issuer URL the relying party discovers from (on
	// the proxy); Issuer is the issuer it expects there and in the tokens.
	DiscoveryURL, Issuer string
	Client               testidp.Client
	User, Password       string
	RedirectURI          string
	// AuthOptions are added to the authorization request after the nonce
	// and the PKCE challenge (and may override its parameters).
	AuthOptions []oauth2.AuthCodeOption
	// AuthOrigin, when set, is the origin (scheme://host:port) the
	// discovered authorization endpoint must be on.
	AuthOrigin string
	// RequireATHash makes a missing at_hash in the ID token an error; it
	// is otherwise optional in the code flow, and checked when present.
	RequireATHash bool
	// TokenURL, when set, changes the discovered token endpoint URL the
	// code is exchanged at (another spelling of it, say).
	TokenURL func(string) string
	// Browser, when set, is the user agent (default Browser()).
	Browser *http.Client
}

// CodeFlow runs the authorization code flow with PKCE and nonce through
// the proxy and verifies the ID token with go-oidc, using only discovery
// from c.DiscoveryURL. Failures before the code exchange and in the ID
// token are fatal; the exchange's own error is returned (a hook's deny is
// an *oauth2.RetrieveError).
func CodeFlow(t testing.TB, c FlowConfig) (*Flow, error) {
	t.Helper()
	ctx := Ctx(t)
	hc := c.Browser
	if hc == nil {
		hc = Browser()
	}
	ctx = oidc.ClientContext(ctx, hc)
	if c.Issuer != c.DiscoveryURL {
		ctx = oidc.InsecureIssuerURLContext(ctx, c.Issuer)
	}
	provider, err := oidc.NewProvider(ctx, c.DiscoveryURL)
	if err != nil {
		t.Fatalf("discovery through idphooks: %v", err)
	}
	conf := &oauth2.Config{
		ClientID: c.Client.ID, ClientSecret: c.Client.Secret, RedirectURL: c.RedirectURI,
		Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
	}
	conf.Endpoint.AuthStyle = c.Client.AuthStyle
	if c.TokenURL != nil {
		conf.Endpoint.TokenURL = c.TokenURL(conf.Endpoint.TokenURL)
	}
	verifier := oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(Nonce), oauth2.S256ChallengeOption(verifier)}, c.AuthOptions...)
	authURL := conf.AuthCodeURL("st4te", opts...)
	if c.AuthOrigin != "" && !strings.HasPrefix(authURL, c.AuthOrigin+"/") {
		t.Fatalf("authorization endpoint is not on %s: %s", c.AuthOrigin, authURL)
	}
	cb, err := testidp.Login(ctx, hc, authURL, c.User, c.Password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if cb.Query().Get("state") != "st4te" {
		t.Fatalf("state lost: %s", cb)
	}
	if iss := cb.Query().Get("iss"); iss != "" && iss != c.Issuer {
		t.Fatalf("authorization response iss = %q, want %q", iss, c.Issuer)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, err
	}
	f := &Flow{Provider: provider, OAuth: conf, Client: hc, Token: tok,
		Verifier: provider.Verifier(&oidc.Config{ClientID: c.Client.ID})}
	f.RawID, _ = tok.Extra("id_token").(string)
	if f.RawID == "" {
		t.Fatal("no id_token in token response")
	}
	f.IDToken, err = f.Verifier.Verify(ctx, f.RawID)
	if err != nil {
		t.Fatalf("relying party rejects the ID token: %v", err)
	}
	if f.IDToken.Nonce != Nonce {
		t.Fatalf("nonce = %q", f.IDToken.Nonce)
	}
	// When present, at_hash must match the access token actually returned.
	if f.IDToken.AccessTokenHash == "" {
		if c.RequireATHash {
			t.Error("the upstream's ID token carries at_hash; the rewritten one has none")
		}
	} else if err := f.IDToken.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash does not match the returned access token: %v", err)
	}
	return f, nil
}

// ClaimsOf returns an ID token's claims.
func ClaimsOf(t testing.TB, tok *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := tok.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// JWTParts decodes a JWT's header and payload without verifying.
func JWTParts(t testing.TB, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s…", tok)
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

// AssertHookClaims checks that ClaimsHook ran on an ID token's claims and
// that sub is still the user's.
func AssertHookClaims(t testing.TB, claims map[string]any, sub string) {
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

// AssertJWKSSigned checks that f's access token verifies with the key set
// at jwksURI, fetched in f's browser.
func AssertJWKSSigned(t testing.TB, f *Flow, jwksURI string) {
	t.Helper()
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(Ctx(t), f.Client), jwksURI)
	if _, err := ks.VerifySignature(Ctx(t), f.Token.AccessToken); err != nil {
		t.Errorf("access token does not verify with the published JWKS: %v", err)
	}
}

// Discovery fetches the discovery document of the issuer URL issuer
// (through the proxy); anything but 200 is fatal.
func Discovery(t testing.TB, issuer string) map[string]any {
	t.Helper()
	return GetJSON(t, issuer+"/.well-known/openid-configuration")
}

// GetJSON fetches a JSON object; anything but 200 is fatal.
func GetJSON(t testing.TB, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s through idphooks: HTTP %d", u, resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Userinfo calls the discovered userinfo endpoint with tok in f's browser
// and returns the claims.
func Userinfo(t testing.TB, f *Flow, tok *oauth2.Token) map[string]any {
	t.Helper()
	ui, err := f.Provider.UserInfo(oidc.ClientContext(Ctx(t), f.Client), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo through idphooks: %v", err)
	}
	var m map[string]any
	if err := ui.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Refresh redeems f's refresh token through the proxy and checks the
// answer: a new ID token the relying party accepts, whose at_hash matches
// the new access token and on which ClaimsHook ran again (grant_seen
// refresh_token). It returns the new token.
func Refresh(t testing.TB, f *Flow) *oauth2.Token {
	t.Helper()
	ts := f.OAuth.TokenSource(oidc.ClientContext(Ctx(t), f.Client), &oauth2.Token{RefreshToken: f.Token.RefreshToken})
	nt, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh through idphooks: %v", err)
	}
	if raw, _ := nt.Extra("id_token").(string); raw == "" {
		t.Error("refresh response has no id_token")
	} else {
		idt, err := f.Verifier.Verify(Ctx(t), raw)
		if err != nil {
			t.Fatalf("refreshed ID token rejected: %v", err)
		}
		if err := idt.VerifyAccessToken(nt.AccessToken); err != nil {
			t.Fatalf("refreshed at_hash: %v", err)
		}
		if c := ClaimsOf(t, idt); c["grant_seen"] != "refresh_token" || c["tier"] != "gold" {
			t.Errorf("refreshed claims: %v", c)
		}
	}
	return nt
}

// IntrospectRevoke checks introspection and revocation of accessToken at
// the endpoints in disc (discovery through the proxy) as client c: active
// before, revoked without error, inactive after. It returns the answer to
// the first introspection.
func IntrospectRevoke(t testing.TB, f *Flow, disc map[string]any, c testidp.Client, accessToken string) map[string]any {
	t.Helper()
	intro, _ := disc["introspection_endpoint"].(string)
	rev, _ := disc["revocation_endpoint"].(string)
	active, err := testidp.Introspect(Ctx(t), f.Client, intro, c, accessToken)
	if err != nil || active["active"] != true {
		t.Fatalf("introspection of the rewritten token: %v %v", active, err)
	}
	if err := testidp.Revoke(Ctx(t), f.Client, rev, c, accessToken, "access_token"); err != nil {
		t.Fatalf("revocation: %v", err)
	}
	res, err := testidp.Introspect(Ctx(t), f.Client, intro, c, accessToken)
	if err != nil || res["active"] == true {
		t.Fatalf("token still active after revocation: %v %v", res, err)
	}
	return active
}

// Logout runs RP-initiated logout in f's browser with f's ID token as
// id_token_hint, at the end_session_endpoint in disc (discovery through
// the proxy), and checks that the provider redirects to postLogoutURI
// with the state it was given.
func Logout(t testing.TB, f *Flow, disc map[string]any, postLogoutURI string) {
	t.Helper()
	endpoint, _ := disc["end_session_endpoint"].(string)
	end, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		t.Fatalf("end_session_endpoint %q: %v", endpoint, err)
	}
	q := end.Query()
	q.Set("id_token_hint", f.RawID)
	q.Set("post_logout_redirect_uri", postLogoutURI)
	q.Set("state", "bye")
	end.RawQuery = q.Encode()
	back, err := testidp.Logout(Ctx(t), f.Client, end.String())
	if err != nil {
		t.Fatalf("logout with the rewritten id_token_hint: %v", err)
	}
	if back.Query().Get("state") != "bye" {
		t.Errorf("logout redirect: %s", back)
	}
}
