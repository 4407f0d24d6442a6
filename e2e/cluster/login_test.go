package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// A login through instance A, then userinfo, refresh, introspection,
// revocation and logout through instance B: userinfo needs the claim
// edits A remembered with the grant, logout the IdP's original of the ID
// token A rewrote (the IdP checks its signature on id_token_hint), so
// each works only if B reads A's swap table. The refreshed tokens B
// issued work through A in turn. Both instances publish the same keys,
// from the shared storage.
func TestLoginOnATokensOnB(t *testing.T) {
	c := startCluster(t, clusterOptions{hooks: map[string]string{"claims.js": e2etest.ClaimsHook}})
	jar, _ := cookiejar.New(nil)
	viaA, viaB := c.client(jar, c.A), c.client(jar, c.B)

	keysA, keysB := jwksKids(t, viaA, c.issuer), jwksKids(t, viaB, c.issuer)
	if len(keysA) == 0 || !slices.Equal(keysA, keysB) {
		t.Fatalf("the instances publish different key sets: A %v, B %v", keysA, keysB)
	}

	cl, _ := idp.Client(testidp.OIDCProviderPostClientID)
	f := login(t, c, viaA, cl)
	// The ID token A issued is signed by idphooks and verifies with the
	// keys B publishes.
	ksB := oidc.NewRemoteKeySet(oidc.ClientContext(e2etest.Ctx(t), viaB), c.issuer+"/.well-known/idphooks/jwks.json")
	if _, err := ksB.VerifySignature(e2etest.Ctx(t), f.RawID); err != nil {
		t.Fatalf("A's ID token does not verify with B's JWKS: %v", err)
	}

	f.Client = viaB
	ui := e2etest.Userinfo(t, f, f.Token)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true || ui["sub"] != testidp.TestUser.Subject {
		t.Errorf("userinfo through B: %v (the ID token's edits A remembered are missing)", ui)
	}
	nt := refresh(t, f)
	f.Client = viaA
	if ui := e2etest.Userinfo(t, f, nt); ui["tier"] != "gold" {
		t.Errorf("userinfo through A with the tokens B refreshed: %v", ui)
	}
	f.Client = viaB
	disc := discovery(t, viaB, c.issuer)
	e2etest.IntrospectRevoke(t, f, disc, cl, nt.AccessToken)
	e2etest.Logout(t, f, disc, logoutURI)
}

// The same across instances with JWT access tokens, which idphooks
// re-signs: B swaps A's rewritten access token back for the IdP's at
// userinfo and introspection (the IdP refuses any other signature), and
// A does the same for the one B issued at refresh, at introspection and
// revocation.
func TestJWTAccessTokenAcrossInstances(t *testing.T) {
	c := startCluster(t, clusterOptions{upstream: zitadel, hooks: map[string]string{"claims.js": e2etest.ClaimsHook}})
	jar, _ := cookiejar.New(nil)
	viaA, viaB := c.client(jar, c.A), c.client(jar, c.B)
	cl, _ := zitadel.Client(testidp.ZitadelJWTClientID)
	f := login(t, c, viaA, cl)
	h, p := e2etest.JWTParts(t, f.Token.AccessToken)
	if p["tier"] != "gold" || !slices.Contains(jwksKids(t, viaB, c.issuer), h["kid"].(string)) {
		t.Fatalf("the access token is not idphooks': header %v, claims %v", h, p)
	}

	f.Client = viaB
	if ui := e2etest.Userinfo(t, f, f.Token); ui["tier"] != "gold" || ui["sub"] != testidp.TestUser.Subject {
		t.Errorf("userinfo through B with A's access token: %v", ui)
	}
	intro, _ := discovery(t, viaB, c.issuer)["introspection_endpoint"].(string)
	if res, err := testidp.Introspect(e2etest.Ctx(t), viaB, intro, cl, f.Token.AccessToken); err != nil || res["active"] != true || res["tier"] != "gold" {
		t.Errorf("introspection through B of A's access token: %v %v", res, err)
	}
	// (The IdP retires the access token a refresh replaces.)
	nt := e2etest.Refresh(t, f)
	f.Client = viaA
	e2etest.IntrospectRevoke(t, f, discovery(t, viaA, c.issuer), cl, nt.AccessToken)
}

// refresh redeems f's refresh token in f's browser and checks the new ID
// token as e2etest.Refresh does, but for at_hash, which oidc-provider
// leaves out at refresh (checked when present).
func refresh(t *testing.T, f *e2etest.Flow) *oauth2.Token {
	t.Helper()
	ts := f.OAuth.TokenSource(oidc.ClientContext(e2etest.Ctx(t), f.Client), &oauth2.Token{RefreshToken: f.Token.RefreshToken})
	nt, err := ts.Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	raw, _ := nt.Extra("id_token").(string)
	idt, err := f.Verifier.Verify(e2etest.Ctx(t), raw)
	if err != nil {
		t.Fatalf("refreshed ID token rejected: %v", err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(nt.AccessToken); err != nil {
			t.Fatalf("refreshed at_hash: %v", err)
		}
	}
	if c := e2etest.ClaimsOf(t, idt); c["grant_seen"] != "refresh_token" || c["tier"] != "gold" {
		t.Errorf("refreshed claims: %v", c)
	}
	return nt
}

// login runs the code flow in browser (pinned to an instance, or
// through LB) as TestUser, checks the hook's claims and that the issuer
// is the public one, and returns the flow.
func login(t *testing.T, c *cluster, browser *http.Client, cl testidp.Client, extra ...oauth2.AuthCodeOption) *e2etest.Flow {
	t.Helper()
	f, err := e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: c.issuer, Issuer: c.issuer, Client: cl,
		User: testidp.TestUser.Username, Password: testidp.TestUser.Password,
		RedirectURI: redirectURI, Browser: browser,
		AuthOptions: append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")}, extra...),
	})
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	claims := e2etest.ClaimsOf(t, f.IDToken)
	e2etest.AssertHookClaims(t, claims, testidp.TestUser.Subject)
	if claims["iss"] != c.issuer {
		t.Fatalf("iss = %v, want the public issuer %s", claims["iss"], c.issuer)
	}
	return f
}

// getJSON fetches u with client and decodes a 200 answer.
func getJSON(t *testing.T, client *http.Client, u string, v any) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

// discovery is the discovery document, as client gets it.
func discovery(t *testing.T, client *http.Client, issuer string) map[string]any {
	t.Helper()
	var m map[string]any
	getJSON(t, client, issuer+"/.well-known/openid-configuration", &m)
	return m
}

// jwksKids are the kids of idphooks' key set, as client gets it, sorted.
func jwksKids(t *testing.T, client *http.Client, issuer string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(t, client, issuer+"/.well-known/idphooks/jwks.json", &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}
