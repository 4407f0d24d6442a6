package testidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	testRedirectURI   = "http://127.0.0.1:9/rp/callback"
	testPostLogoutURI = "http://127.0.0.1:9/rp/logged-out"
)

var (
	zitadelIdP *Provider
	nodeIdP    *Provider
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	t0 := time.Now()
	z, err := StartZitadel(ZitadelOptions{
		RedirectURIs:           []string{testRedirectURI},
		PostLogoutRedirectURIs: []string{testPostLogoutURI},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start zitadel:", err)
		return 1
	}
	defer z.Close()
	zitadelIdP = z
	t1 := time.Now()
	n, err := StartOIDCProvider(OIDCProviderOptions{
		RedirectURIs:           []string{testRedirectURI},
		PostLogoutRedirectURIs: []string{testPostLogoutURI},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start oidc-provider:", err)
		return 1
	}
	defer n.Close()
	nodeIdP = n
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "zitadel started in %s, oidc-provider in %s\n", t1.Sub(t0), time.Since(t1))
	}
	return m.Run()
}

func newBrowser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// flowResult is what a code flow through a provider produced.
type flowResult struct {
	rp       *oidc.Provider
	disc     *Discovery
	conf     *oauth2.Config
	token    *oauth2.Token
	idToken  *oidc.IDToken
	verifier *oidc.IDTokenVerifier
	browser  *http.Client
}

// codeFlow runs an authorization code flow with PKCE and nonce for client c
// and verifies the ID token through discovery only.
func codeFlow(t *testing.T, p *Provider, c Client, scopes []string, extra ...oauth2.AuthCodeOption) *flowResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rp, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	disc, err := FetchDiscovery(ctx, nil, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  testRedirectURI,
		Scopes:       scopes,
		Endpoint:     rp.Endpoint(),
	}
	conf.Endpoint.AuthStyle = c.AuthStyle

	verifier := oauth2.GenerateVerifier()
	state, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)}, extra...)
	authURL := conf.AuthCodeURL(state, opts...)

	browser := newBrowser(t)
	cb, err := Login(ctx, browser, authURL, TestUser.Username, TestUser.Password)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	q := cb.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if iss := q.Get("iss"); iss != "" && iss != p.Issuer() {
		t.Fatalf("iss = %q, want %q", iss, p.Issuer())
	}

	exOpts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	tok, err := conf.Exchange(ctx, q.Get("code"), append(exOpts, extra...)...)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		t.Fatal("no id_token in token response")
	}
	v := rp.Verifier(&oidc.Config{ClientID: c.ID})
	idt, err := v.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if idt.Subject != TestUser.Subject {
		t.Fatalf("sub = %q, want %q", idt.Subject, TestUser.Subject)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
	}
	return &flowResult{rp: rp, disc: disc, conf: conf, token: tok, idToken: idt, verifier: v, browser: browser}
}

func (f *flowResult) checkUserinfo(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ui, err := f.rp.UserInfo(ctx, oauth2.StaticTokenSource(f.token))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var claims struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := ui.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if ui.Subject != TestUser.Subject || claims.Email != TestUser.Email || claims.Name != TestUser.Name {
		t.Fatalf("userinfo = sub %q email %q name %q, want %+v", ui.Subject, claims.Email, claims.Name, TestUser)
	}
}

func (f *flowResult) checkRefresh(t *testing.T) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	if f.token.RefreshToken == "" {
		t.Fatal("no refresh_token issued")
	}
	old := *f.token
	old.Expiry = time.Now().Add(-time.Minute) // force the refresh grant
	nt, err := f.conf.TokenSource(ctx, &old).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if nt.AccessToken == "" || nt.AccessToken == f.token.AccessToken {
		t.Fatalf("refresh returned access token %q (old %q)", nt.AccessToken, f.token.AccessToken)
	}
	if raw, _ := nt.Extra("id_token").(string); raw != "" {
		if _, err := f.verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("verify refreshed id_token: %v", err)
		}
	}
	return nt
}

func (f *flowResult) checkIntrospectRevoke(t *testing.T, c Client, accessToken string) {
	t.Helper()
	ctx := context.Background()
	if f.disc.IntrospectionEndpoint == "" || f.disc.RevocationEndpoint == "" {
		t.Fatalf("discovery lacks introspection (%q) or revocation (%q)", f.disc.IntrospectionEndpoint, f.disc.RevocationEndpoint)
	}
	in, err := Introspect(ctx, nil, f.disc.IntrospectionEndpoint, c, accessToken)
	if err != nil {
		t.Fatal(err)
	}
	if in["active"] != true {
		t.Fatalf("introspection before revocation: %v", in)
	}
	if sub, ok := in["sub"]; ok && sub != TestUser.Subject {
		t.Fatalf("introspection sub = %v", sub)
	}
	if err := Revoke(ctx, nil, f.disc.RevocationEndpoint, c, accessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	in, err = Introspect(ctx, nil, f.disc.IntrospectionEndpoint, c, accessToken)
	if err != nil {
		t.Fatal(err)
	}
	if in["active"] != false {
		t.Fatalf("introspection after revocation: %v", in)
	}
}

// jwtHeader decodes the JOSE header of a compact JWS.
func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	h, _, ok := strings.Cut(raw, ".")
	if !ok {
		t.Fatalf("not a JWT: %.40q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func isJWT(s string) bool { return strings.Count(s, ".") == 2 }

var fullScopes = []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}

func TestZitadelOpaque(t *testing.T) {
	c, _ := zitadelIdP.Client(ZitadelWebClientID)
	f := codeFlow(t, zitadelIdP, c, fullScopes)
	if isJWT(f.token.AccessToken) {
		t.Errorf("access token of %s is a JWT, want opaque", c.ID)
	}
	f.checkUserinfo(t)
	nt := f.checkRefresh(t)
	f.checkIntrospectRevoke(t, c, nt.AccessToken)
}

func TestZitadelJWTAccessToken(t *testing.T) {
	c, _ := zitadelIdP.Client(ZitadelJWTClientID)
	basic := c
	c.AuthStyle = oauth2.AuthStyleInParams // the token endpoint accepts client_secret_post too
	f := codeFlow(t, zitadelIdP, c, fullScopes)
	if !isJWT(f.token.AccessToken) {
		t.Fatalf("access token of %s is not a JWT", c.ID)
	}
	// the access token verifies against the provider's JWKS
	ks := oidc.NewRemoteKeySet(context.Background(), f.disc.JWKSURI)
	if _, err := ks.VerifySignature(context.Background(), f.token.AccessToken); err != nil {
		t.Fatalf("JWT access token signature: %v", err)
	}
	f.checkUserinfo(t)
	nt := f.checkRefresh(t)
	f.checkIntrospectRevoke(t, basic, nt.AccessToken) // introspection wants Basic
}

func TestOIDCProviderBasic(t *testing.T) {
	c, _ := nodeIdP.Client(OIDCProviderBasicClientID)
	f := codeFlow(t, nodeIdP, c, fullScopes, oauth2.SetAuthURLParam("prompt", "consent"))
	if isJWT(f.token.AccessToken) {
		t.Errorf("access token without resource is a JWT, want opaque")
	}
	f.checkUserinfo(t)
	nt := f.checkRefresh(t)
	f.checkIntrospectRevoke(t, c, nt.AccessToken)
}

func TestOIDCProviderPostAndResource(t *testing.T) {
	c, _ := nodeIdP.Client(OIDCProviderPostClientID)
	scopes := append([]string{nodeIdP.ResourceScope}, fullScopes...)
	f := codeFlow(t, nodeIdP, c, scopes,
		oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.SetAuthURLParam("resource", nodeIdP.Resource))
	at := f.token.AccessToken
	if !isJWT(at) {
		t.Fatalf("access token for resource %s is not a JWT: %.40q", nodeIdP.Resource, at)
	}
	if typ := jwtHeader(t, at)["typ"]; typ != "at+jwt" {
		t.Fatalf("access token typ = %v, want at+jwt", typ)
	}
	// RFC 9068 validation by a resource server: JWKS from discovery,
	// iss, aud = resource, sub.
	v := oidc.NewVerifier(f.disc.Issuer, oidc.NewRemoteKeySet(context.Background(), f.disc.JWKSURI),
		&oidc.Config{ClientID: nodeIdP.Resource, SupportedSigningAlgs: []string{"RS256"}})
	tok, err := v.Verify(context.Background(), at)
	if err != nil {
		t.Fatalf("verify JWT access token: %v", err)
	}
	var claims struct {
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
	}
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if tok.Subject != TestUser.Subject || claims.ClientID != c.ID || !strings.Contains(claims.Scope, nodeIdP.ResourceScope) {
		t.Fatalf("JWT access token claims: sub %q client_id %q scope %q", tok.Subject, claims.ClientID, claims.Scope)
	}
	nt := f.checkRefresh(t)
	if !isJWT(nt.AccessToken) {
		t.Fatalf("refreshed access token for the resource is not a JWT")
	}
}

func TestLoginWrongPassword(t *testing.T) {
	for _, p := range []*Provider{zitadelIdP, nodeIdP} {
		t.Run(p.Name, func(t *testing.T) {
			conf := &oauth2.Config{ClientID: p.Clients[0].ID, RedirectURL: testRedirectURI, Scopes: []string{"openid"}}
			d, err := FetchDiscovery(context.Background(), nil, p.Issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf.Endpoint.AuthURL = d.AuthorizationEndpoint
			u := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
			_, err = Login(context.Background(), newBrowser(t), u, TestUser.Username, "wrong")
			if err == nil || !strings.Contains(err.Error(), "failed") {
				t.Fatalf("Login with a wrong password: err = %v, want a failed login", err)
			}
		})
	}
}

func TestStartTwice(t *testing.T) {
	// a second zitadel provider in the same process is independent
	z, err := StartZitadel(ZitadelOptions{RedirectURIs: []string{"http://127.0.0.1:9/other"}, IDTokenUserinfoClaims: true})
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if z.Issuer() == zitadelIdP.Issuer() {
		t.Fatal("same issuer twice")
	}
	ctx := context.Background()
	c, _ := z.Client(ZitadelWebClientID)
	conf, err := OAuth2Config(ctx, nil, z.Issuer(), c, testRedirectURI, "openid", "email")
	if err != nil {
		t.Fatal(err)
	}
	// the first provider's redirect URI is not registered at the second
	if cb, err := Login(ctx, newBrowser(t), conf.AuthCodeURL("s"), TestUser.Username, TestUser.Password); err == nil {
		t.Fatalf("unregistered redirect URI accepted: %s", cb)
	}
	conf.RedirectURL = "http://127.0.0.1:9/other"
	cb, err := Login(ctx, newBrowser(t), conf.AuthCodeURL("s"), TestUser.Username, TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(ctx, cb.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := oidc.NewProvider(ctx, z.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	idt, err := rp.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != TestUser.Email {
		t.Fatalf("IDTokenUserinfoClaims: email in ID token = %q (%v)", claims.Email, err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

func (f *flowResult) checkLogout(t *testing.T) {
	t.Helper()
	if f.disc.EndSessionEndpoint == "" {
		t.Fatal("discovery lacks end_session_endpoint")
	}
	u, err := url.Parse(f.disc.EndSessionEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("id_token_hint", f.token.Extra("id_token").(string))
	q.Set("post_logout_redirect_uri", testPostLogoutURI)
	q.Set("state", "bye")
	u.RawQuery = q.Encode()
	back, err := Logout(context.Background(), f.browser, u.String())
	if err != nil {
		t.Fatalf("logout: %v", err)
	}
	if !strings.HasPrefix(back.String(), testPostLogoutURI) || back.Query().Get("state") != "bye" {
		t.Fatalf("logout returned to %s", back)
	}
}

func TestLogout(t *testing.T) {
	for _, p := range []*Provider{zitadelIdP, nodeIdP} {
		t.Run(p.Name, func(t *testing.T) {
			f := codeFlow(t, p, p.Clients[0], []string{"openid"})
			f.checkLogout(t)
		})
	}
}
