package keycloak

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// Keycloak with --proxy-headers xforwarded builds every URL of a request
// that came through Caddy, its issuer included, from X-Forwarded-Host: the
// discovery document clients get through idphooks names the proxy's origin
// everywhere, and jwks_uri is idphooks' own.
func TestKeycloakDiscoveryThroughCaddy(t *testing.T) {
	px := startProxy(t, nil, dynamicHostname)
	d := e2etest.Discovery(t, px.Issuer())
	t.Logf("discovery through idphooks: issuer=%v token_endpoint=%v jwks_uri=%v", d["issuer"], d["token_endpoint"], d["jwks_uri"])
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "introspection_endpoint", "revocation_endpoint", "end_session_endpoint", "jwks_uri"} {
		if s, _ := d[k].(string); !strings.HasPrefix(s, px.Origin+"/") {
			t.Errorf("%s = %v, want it on %s", k, d[k], px.Origin)
		}
	}
	if d["jwks_uri"] != px.Origin+"/.well-known/idphooks/jwks.json" {
		t.Errorf("jwks_uri = %v, want idphooks' key set", d["jwks_uri"])
	}
	direct, err := testidp.FetchDiscovery(e2etest.Ctx(t), nil, kc.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("discovery fetched directly: issuer=%v", direct.Issuer)
	if d["issuer"] != px.Issuer() || direct.Issuer != kc.Issuer() {
		t.Errorf("Keycloak's issuer: %v through Caddy, %v directly; want %v and %v", d["issuer"], direct.Issuer, px.Issuer(), kc.Issuer())
	}
}

// With the realm's frontend URL on the proxy's origin, Keycloak's issuer is
// the same through Caddy and directly.
func TestKeycloakFixedHostnameDiscovery(t *testing.T) {
	px := startProxy(t, nil, fixedHostname)
	d := e2etest.Discovery(t, px.Issuer())
	direct, err := testidp.FetchDiscovery(e2etest.Ctx(t), nil, kc.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("issuer through idphooks %v, directly %v, direct jwks_uri %v", d["issuer"], direct.Issuer, direct.JWKSURI)
	if d["issuer"] != px.Issuer() || direct.Issuer != px.Issuer() {
		t.Errorf("issuer: %v through Caddy, %v directly; want %v", d["issuer"], direct.Issuer, px.Issuer())
	}
}

// With a dynamic hostname, tokens obtained through Caddy carry the
// forwarded issuer (http://PROXY/realms/acme) while idphooks learns the
// issuer from its direct discovery fetch (http://KEYCLOAK/realms/acme).
// idphooks currently refuses those tokens (502, "upstream ID token failed
// verification: token has invalid claims: token has invalid issuer"); the
// test skips on exactly that answer and runs the whole flow once it works.
func TestKeycloakDynamicHostname(t *testing.T) {
	for _, issuer := range []string{"", "self"} {
		t.Run("issuer="+issuer, func(t *testing.T) {
			cfg := e2etest.Hooks(e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook))
			if issuer != "" {
				cfg["issuer"] = issuer
			}
			px := startProxy(t, cfg, dynamicHostname)
			c, _ := kc.Client(testidp.KeycloakWebClientID)
			f, err := codeFlow(t, px, px.Issuer(), c, testidp.TestUser.Username, testidp.TestUser.Password)
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.Response.StatusCode == http.StatusBadGateway && re.ErrorCode == "server_error" {
				t.Skipf("known idphooks issue: the token response through Caddy (iss %s) is refused against the directly fetched issuer %s: HTTP %d %s %q",
					px.Issuer(), kc.Issuer(), re.Response.StatusCode, re.ErrorCode, re.ErrorDescription)
			}
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			fullFlow(t, px, c, "JWT", px.Issuer(), f)
		})
	}
}

func TestKeycloakFullFlow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		client  string
		typ     string // access token header typ Keycloak sets
		rewrite bool   // idp_hooks issuer option set to another issuer
	}{
		{"typJWT", testidp.KeycloakWebClientID, "JWT", false},
		{"typATJWT", testidp.KeycloakATClientID, "at+jwt", false},
		{"issuerRewrite", testidp.KeycloakWebClientID, "JWT", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e2etest.Hooks(e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook))
			px := startProxy(t, cfg, fixedHostname)
			issuer := px.Issuer()
			if tc.rewrite {
				// Caddy is process-global: load again with the issuer
				// option, on a new address, so set the frontend URL anew.
				issuer = "https://login.example.test/acme"
				cfg["issuer"] = issuer
				px = startProxy(t, cfg, fixedHostname)
			}
			c, _ := kc.Client(tc.client)
			f, err := codeFlow(t, px, issuer, c, testidp.TestUser.Username, testidp.TestUser.Password)
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			fullFlow(t, px, c, tc.typ, issuer, f)
		})
	}
}

// fullFlow checks the tokens of a finished code flow f, then userinfo,
// refresh, introspection, revocation and logout through the proxy.
func fullFlow(t *testing.T, px *proxy, c testidp.Client, typ, issuer string, f *e2etest.Flow) {
	t.Helper()
	claims := e2etest.ClaimsOf(t, f.IDToken)
	e2etest.AssertHookClaims(t, claims, testidp.TestUser.Subject)
	if claims["iss"] != issuer {
		t.Errorf("ID token iss = %v, want %v", claims["iss"], issuer)
	}
	if claims["email"] != testidp.TestUser.Email || claims["name"] != testidp.TestUser.Name {
		t.Errorf("Keycloak's own claims lost: %v", claims)
	}
	if claims["grant_seen"] != "authorization_code" {
		t.Errorf("grant_seen = %v", claims["grant_seen"])
	}

	// The JWT access token is re-signed by idphooks, keeps Keycloak's typ
	// and carries the hook's claim.
	h, p := e2etest.JWTParts(t, f.Token.AccessToken)
	if h["typ"] != typ {
		t.Errorf("access token typ = %v, want Keycloak's %q", h["typ"], typ)
	}
	if h["kid"] == nil {
		t.Errorf("access token header has no kid: %v", h)
	}
	if p["tier"] != "gold" || p["iss"] != issuer || p["azp"] != c.ID || p["sub"] != testidp.TestUser.Subject {
		t.Errorf("access token claims: %v", p)
	}
	jwksURI := e2etest.Discovery(t, px.Issuer())["jwks_uri"].(string)
	e2etest.AssertJWKSSigned(t, f, jwksURI)

	// Userinfo with the rewritten access token: Keycloak gets its own
	// token back; the answer carries the hook claims.
	ui := e2etest.Userinfo(t, f, f.Token)
	if ui["tier"] != "gold" || ui["userinfo_hook"] != true || ui["sub"] != testidp.TestUser.Subject || ui["email"] != testidp.TestUser.Email {
		t.Errorf("userinfo claims: %v", ui)
	}

	// Refresh: a new ID token, hooks ran again, at_hash matches.
	nt := e2etest.Refresh(t, f)
	if _, p := e2etest.JWTParts(t, nt.AccessToken); p["tier"] != "gold" {
		t.Errorf("refreshed access token claims: %v", p)
	}

	// Introspection and revocation reach Keycloak with the original token.
	res := e2etest.IntrospectRevoke(t, f, e2etest.Discovery(t, px.Issuer()), c, nt.AccessToken)
	if res["sub"] != testidp.TestUser.Subject || res["client_id"] != c.ID {
		t.Errorf("introspection answer: %v", res)
	}

	// RP-initiated logout with the rewritten ID token as id_token_hint:
	// Keycloak receives its own token back and redirects at once.
	e2etest.Logout(t, f, e2etest.Discovery(t, px.Issuer()), logoutURI)
	// Keycloak ended the browser session: a silent authorization request
	// (prompt=none) with the same cookies now asks for a login.
	cb, err := testidp.Login(e2etest.Ctx(t), f.Client, f.OAuth.AuthCodeURL("again", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "", "")
	if err != nil {
		t.Fatalf("silent authorization after logout: %v", err)
	}
	if cb.Query().Get("error") != "login_required" {
		t.Errorf("the session survived logout: %s", cb)
	}
}

func TestKeycloakDeniedTokenGetsOAuthError(t *testing.T) {
	px := startProxy(t, e2etest.Hooks(e2etest.WriteHook(t, t.TempDir(), "claims.js", e2etest.ClaimsHook)), fixedHostname)
	c, _ := kc.Client(testidp.KeycloakWebClientID)
	_, err := codeFlow(t, px, px.Issuer(), c, testidp.SecondUser.Username, testidp.SecondUser.Password)
	e2etest.AssertDenied(t, err)
}
