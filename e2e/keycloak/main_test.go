// Package keycloak runs idphooks inside a real Caddy in front of a real
// Keycloak server (testidp.StartKeycloak: the Maven Central distribution
// under kc.sh start-dev) and checks what it emits with a real relying-party
// library (coreos/go-oidc) that trusts only what idphooks publishes.
package keycloak

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/internal/browser"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

const (
	redirectURI = "http://127.0.0.1:9/callback"
	logoutURI   = "http://127.0.0.1:9/logged-out"
)

var kc *testidp.Provider

// One headless Chromium for the package's browser tests (browser_test.go),
// started beside Keycloak; chrome is nil when there is none (chromeErr).
var (
	chrome    *browser.Browser
	chromeErr error
)

// callback is a loopback web server that plays the relying party's
// redirect_uri for the browser tests: a page the browser can land on,
// with the authorization response in its URL. It must be known before
// Keycloak starts, since redirect URIs are registered at the realm import.
var callback *httptest.Server

// browserRedirectURI is callback's redirect_uri.
func browserRedirectURI() string { return callback.URL + "/callback" }

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
	callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>callback</title></head><body><p id="callback">authorization response received</p></body></html>`)
	}))
	opts := testidp.KeycloakOptions{
		RedirectURIs:           []string{redirectURI, browserRedirectURI()},
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
	start = time.Now()
	if chrome, chromeErr = browser.Start(context.Background(), browser.Options{}); chromeErr == nil {
		fmt.Fprintf(os.Stderr, "%s ready after %s; pages of failed browser tests go to %s\n", chrome.Version(), time.Since(start).Round(time.Millisecond), chrome.OutputDir())
	} else {
		fmt.Fprintln(os.Stderr, "browser tests will skip:", chromeErr)
	}
	code := m.Run()
	_ = caddy.Stop()
	if chrome != nil {
		chrome.Close()
	}
	kc.Close()
	callback.Close()
	os.Exit(code)
}

// newTab is a browser tab of the package's Chromium for t, or a skip when
// there is no Chromium (.ci/run installs Debian's).
func newTab(t *testing.T) *browser.Tab {
	t.Helper()
	if errors.Is(chromeErr, browser.ErrNoChromium) {
		t.Skipf("no browser: %v", chromeErr)
	}
	if chromeErr != nil {
		t.Fatal(chromeErr)
	}
	return chrome.NewTab(t)
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
	return loadProxy(t, idpHooks, fixed, false)
}

// startPlainProxy is startProxy without idp_hooks: Caddy's reverse_proxy
// alone, the baseline of what Keycloak does behind a proxy.
func startPlainProxy(t *testing.T, fixed bool) *proxy {
	t.Helper()
	return loadProxy(t, nil, fixed, true)
}

func loadProxy(t *testing.T, idpHooks map[string]any, fixed, plain bool) *proxy {
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
		SelfIssuer: px.Issuer(), LogLevel: logLevel(), Plain: plain,
	})
	return px
}

func logLevel() string {
	if l := os.Getenv("CADDY_LOG_LEVEL"); l != "" {
		return l
	}
	return "ERROR"
}
