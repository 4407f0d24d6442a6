// Package keycloak runs idphooks inside a real Caddy in front of a real
// Keycloak server (testidp.StartKeycloak: the Maven Central distribution
// under kc.sh start-dev) and checks what it emits with a real relying-party
// library (coreos/go-oidc) that trusts only what idphooks publishes.
package keycloak

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

const (
	redirectURI = "http://127.0.0.1:9/callback"
	logoutURI   = "http://127.0.0.1:9/logged-out"
)

var kc *testidp.Provider

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "e2e/keycloak: -short: Keycloak not started, tests skipped")
		os.Exit(0)
	}
	var log *os.File
	if os.Getenv("KEYCLOAK_LOG") != "" {
		log = os.Stderr
	}
	opts := testidp.KeycloakOptions{
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{logoutURI},
		Log:                    timingsOnly{log},
	}
	if a := os.Getenv("KEYCLOAK_ARGS"); a != "" {
		opts.Args = strings.Fields(a)
	}
	// Keycloak answers more slowly than the in-process providers of e2e.
	e2etest.ClientTimeout, e2etest.CtxTimeout = 30*time.Second, 90*time.Second
	start := time.Now()
	var err error
	kc, err = testidp.StartKeycloak(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting keycloak:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "keycloak %s ready at %s after %s\n", testidp.KeycloakVersion, kc.Issuer(), time.Since(start).Round(time.Millisecond))
	code := m.Run()
	_ = caddy.Stop()
	kc.Close()
	os.Exit(code)
}

// timingsOnly passes the harness' own lines ("testidp: ...") to stderr and
// Keycloak's output only when KEYCLOAK_LOG is set.
type timingsOnly struct{ all *os.File }

func (w timingsOnly) Write(p []byte) (int, error) {
	if w.all != nil {
		return w.all.Write(p)
	}
	if len(p) > 9 && string(p[:9]) == "testidp: " {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

// proxy is one running Caddy config: idp_hooks before reverse_proxy.
type proxy struct {
	Origin string
	Dir    string
}

// Issuer is the realm's issuer as Keycloak builds it for requests that
// come through the proxy (from X-Forwarded-Host).
func (p *proxy) Issuer() string { return p.Origin + "/realms/" + testidp.KeycloakRealm }

// Hostname modes of the realm for a test.
const (
	// dynamicHostname: Keycloak builds its URLs, issuer included, from the
	// request: X-Forwarded-Host through Caddy, its own address directly
	// (--hostname-strict=false, no frontend URL).
	dynamicHostname = false
	// fixedHostname: the realm's frontend URL is the proxy's origin, as
	// KC_HOSTNAME=https://auth.example.com is in production: the issuer is
	// the same for requests through Caddy and for idphooks' direct fetches.
	fixedHostname = true
)

// startProxy loads a Caddy config with idp_hooks (given as JSON fields)
// before a reverse_proxy to Keycloak; upstream is the realm's issuer as
// reached directly. An issuer of "self" becomes the realm's issuer on the
// proxy's origin. With fixed, the realm's frontend URL is set to the
// proxy's origin for the test. Caddy is process-global: each call replaces
// the config.
func startProxy(t *testing.T, idpHooks map[string]any, fixed bool) *proxy {
	t.Helper()
	// idp_hooks keeps the upstream's discovery (with its issuer) in a pool
	// across config reloads for an hour. Tests here change Keycloak's
	// issuer (frontend URL, proxy address), so each starts a fresh Caddy.
	_ = caddy.Stop()
	addr := e2etest.FreeAddr(t)
	dir := t.TempDir()
	px := &proxy{Origin: "http://" + addr, Dir: dir}
	if fixed {
		if err := testidp.SetKeycloakFrontendURL(e2etest.Ctx(t), kc, px.Origin); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := testidp.SetKeycloakFrontendURL(context.Background(), kc, ""); err != nil {
				t.Errorf("resetting the frontend URL: %v", err)
			}
		})
	}

	e2etest.LoadCaddy(t, e2etest.Config{
		Addr: addr, Dir: dir, Upstream: kc.Issuer(), Handler: idpHooks,
		SelfIssuer: px.Issuer(), LogLevel: logLevel(),
	})
	return px
}

func logLevel() string {
	if l := os.Getenv("CADDY_LOG_LEVEL"); l != "" {
		return l
	}
	return "ERROR"
}
