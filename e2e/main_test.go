// Package e2e runs idphooks inside a real Caddy in front of real OIDC
// providers (the zitadel/oidc example OP in-process, npm oidc-provider out
// of process) and checks what it emits with a real relying-party library
// (coreos/go-oidc) that trusts only what idphooks publishes.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

const (
	redirectURI = "http://127.0.0.1:9/callback"
	logoutURI   = "http://127.0.0.1:9/logged-out"
)

var (
	zitadel *testidp.Provider
	nodeOP  *testidp.Provider
)

func TestMain(m *testing.M) {
	var err error
	zitadel, err = testidp.StartZitadel(testidp.ZitadelOptions{RedirectURIs: []string{redirectURI}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting zitadel OP:", err)
		os.Exit(1)
	}
	nodeOP, err = testidp.StartOIDCProvider(testidp.OIDCProviderOptions{RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{logoutURI}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting oidc-provider:", err)
		zitadel.Close()
		os.Exit(1)
	}
	code := m.Run()
	_ = caddy.Stop()
	stopBenchRedis()
	zitadel.Close()
	nodeOP.Close()
	os.Exit(code)
}

// proxy is one running Caddy config: idp_hooks before reverse_proxy.
type proxy struct {
	Origin string
	Dir    string
}

// startProxy loads a Caddy config with idp_hooks (given as JSON fields)
// before a reverse_proxy to the provider; an issuer of "self" becomes the
// proxy's origin. Caddy is process-global, so each
// call replaces the previous config.
func startProxy(t *testing.T, p *testidp.Provider, idpHooks map[string]any) *proxy {
	t.Helper()
	return loadProxy(t, p, idpHooks, e2etest.FreeAddr(t), t.TempDir())
}

// loadProxy loads the config on a given address with state and storage
// under dir; loading it again with the same dir is a config reload.
func loadProxy(t *testing.T, p *testidp.Provider, idpHooks map[string]any, addr, dir string) *proxy {
	t.Helper()
	origin := e2etest.LoadCaddy(t, e2etest.Config{
		Addr: addr, Dir: dir, Upstream: p.Issuer(), Handler: idpHooks,
		SelfIssuer: "http://" + addr,
	})
	return &proxy{Origin: origin, Dir: dir}
}

// codeFlow runs e2etest.CodeFlow through px with discovery from its
// origin; issuer is what the RP expects in discovery. at_hash is optional
// in the code flow here (oidc-provider leaves it out) and checked when
// present.
func codeFlow(t *testing.T, px *proxy, issuer string, c testidp.Client, user, password string, extra ...oauth2.AuthCodeOption) (*e2etest.Flow, error) {
	t.Helper()
	return e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: px.Origin, Issuer: issuer, Client: c, User: user, Password: password,
		RedirectURI: redirectURI,
		AuthOptions: append([]oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")}, extra...),
	})
}
