package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// respell upper-cases the path of u, or capitalises it with title.
func respell(u string, title bool) string {
	pu, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	if title {
		segs := strings.Split(pu.Path, "/")
		for k, s := range segs {
			if s != "" {
				segs[k] = strings.ToUpper(s[:1]) + s[1:]
			}
		}
		pu.Path = strings.Join(segs, "/")
	} else {
		pu.Path = strings.ToUpper(pu.Path)
	}
	return pu.String()
}

// oidc-provider's router matches paths without regard to case: every
// spelling it answers must be the endpoint it is to idphooks too, or a
// client picks the spelling that skips the hooks.
func TestOIDCProviderPathCaseCannotSkipHooks(t *testing.T) {
	dir := t.TempDir()
	hook := e2etest.WriteHook(t, dir, "claims.js", e2etest.ClaimsHook)
	refreshDeny := e2etest.WriteHook(t, dir, "refresh.js", `exports.onAfterTokenRefresh = (e, api) => api.deny("refresh blocked")`)
	px := startProxy(t, nodeOP, e2etest.Hooks(hook, refreshDeny))
	c, _ := nodeOP.Client(testidp.OIDCProviderPostClientID)

	// A deny hook at POST /TOKEN.
	_, err := e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: px.Origin, Issuer: nodeOP.Issuer(), Client: c,
		User: testidp.SecondUser.Username, Password: testidp.SecondUser.Password, RedirectURI: redirectURI,
		AuthOptions: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")},
		TokenURL:    func(u string) string { return respell(u, false) },
	})
	e2etest.AssertDenied(t, err)

	// The hooks' claims at /TOKEN, the userinfo hook at GET /ME.
	f, err := e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: px.Origin, Issuer: nodeOP.Issuer(), Client: c,
		User: testidp.TestUser.Username, Password: testidp.TestUser.Password, RedirectURI: redirectURI,
		AuthOptions: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")},
		TokenURL:    func(u string) string { return respell(u, false) },
	})
	if err != nil {
		t.Fatalf("code exchange at the upper-case token path: %v", err)
	}
	e2etest.AssertHookClaims(t, e2etest.ClaimsOf(t, f.IDToken), testidp.TestUser.Subject)
	disc := e2etest.Discovery(t, px.Origin)
	req, _ := http.NewRequest(http.MethodGet, respell(disc["userinfo_endpoint"].(string), false), nil)
	req.Header.Set("Authorization", "Bearer "+f.Token.AccessToken)
	ui := getJSON(t, req)
	if ui["userinfo_hook"] != true || ui["tier"] != "gold" {
		t.Errorf("userinfo at %s: %v", req.URL.Path, ui)
	}

	// A refresh at /Token meets after_token_refresh.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.Token.RefreshToken}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	resp, err := http.PostForm(respell(disc["token_endpoint"].(string), true), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "refresh blocked") {
		t.Errorf("refresh at the title-case token path: %d %s", resp.StatusCode, body)
	}

	// Discovery and the key set, rewritten whatever their spelling.
	req, _ = http.NewRequest(http.MethodGet, px.Origin+"/.WELL-KNOWN/OPENID-CONFIGURATION", nil)
	if d := getJSON(t, req); d["jwks_uri"] != disc["jwks_uri"] {
		t.Errorf("discovery at the upper-case path: jwks_uri %v, want %v", d["jwks_uri"], disc["jwks_uri"])
	}
	up := e2etest.Discovery(t, nodeOP.Issuer())
	req, _ = http.NewRequest(http.MethodGet, respell(px.Origin+mustPath(t, up["jwks_uri"].(string)), false), nil)
	keys, _ := getJSON(t, req)["keys"].([]any)
	ours := getJSONURL(t, disc["jwks_uri"].(string))["keys"].([]any)
	if len(keys) != len(ours) {
		t.Errorf("JWKS at the upper-case IdP path: %d keys, idphooks' own path %d", len(keys), len(ours))
	}
}

func mustPath(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.Path
}

func getJSONURL(t *testing.T, u string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return getJSON(t, req)
}

func getJSON(t *testing.T, req *http.Request) map[string]any {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", req.Method, req.URL, resp.StatusCode, err)
	}
	return m
}
