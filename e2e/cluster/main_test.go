// Package cluster runs idphooks in cluster mode end to end with real
// parts: two Caddy processes (the binary users build from cmd/caddy) with
// `state redis` on one real redis-server and one shared `storage
// file_system` folder, a third Caddy load-balancing round robin in front
// of them whose origin is the public issuer, the npm oidc-provider as the
// IdP (and the zitadel/oidc example OP for JWT access tokens),
// coreos/go-oidc as the relying party and the npm standardwebhooks
// verifier as the webhook receiver.
package cluster

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/idphooks/idphooks/internal/caddybin"
	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/internal/testidp"
)

const (
	redirectURI = "http://127.0.0.1:9/callback"
	logoutURI   = "http://127.0.0.1:9/logged-out"
)

var (
	// caddyBin is cmd/caddy, built once for the package.
	caddyBin string
	// redis is the package's redis-server (AOF on, appendfsync always);
	// every cluster has a key prefix of its own on it.
	redis *redistest.Server
	// idp is npm oidc-provider, the IdP of most clusters.
	idp *testidp.Provider
	// zitadel is the zitadel/oidc example OP (in this process), for JWT
	// access tokens its userinfo and introspection endpoints accept
	// (oidc-provider's resource tokens reach neither).
	zitadel *testidp.Provider
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The in-process zitadel OP logs every request through slog.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	r, err := redistest.Start(redistest.Options{AppendFsync: "always"})
	switch {
	case redistest.Skip(err):
		fmt.Fprintln(os.Stderr, "e2e/cluster: skipping the cluster tests:", err)
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e/cluster:", err)
		return 1
	}
	redis = r
	defer redis.Close()

	if caddyBin, err = caddybin.Build(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e/cluster:", err)
		return 1
	}

	idp, err = testidp.StartOIDCProvider(testidp.OIDCProviderOptions{
		RedirectURIs: []string{redirectURI}, PostLogoutRedirectURIs: []string{logoutURI},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/cluster: starting oidc-provider:", err)
		return 1
	}
	defer idp.Close()
	zitadel, err = testidp.StartZitadel(testidp.ZitadelOptions{RedirectURIs: []string{redirectURI}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e/cluster: starting the zitadel OP:", err)
		return 1
	}
	defer zitadel.Close()
	return m.Run()
}
