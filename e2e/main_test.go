// Package e2e runs idphooks inside a real Caddy in front of real OIDC
// providers (the zitadel/oidc example OP in-process, npm oidc-provider out
// of process) and checks what it emits with a real relying-party library
// (coreos/go-oidc) that trusts only what idphooks publishes.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/idphooks/idphooks/caddymodule"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return loadProxy(t, p, idpHooks, addr, t.TempDir())
}

// loadProxy loads the config on a given address with state and storage
// under dir; loading it again with the same dir is a config reload.
func loadProxy(t *testing.T, p *testidp.Provider, idpHooks map[string]any, addr, dir string) *proxy {
	t.Helper()
	up, _ := url.Parse(p.Issuer())
	handler := map[string]any{"handler": "idp_hooks", "upstream": p.Issuer(), "state_path": filepath.Join(dir, "state.db")}
	for k, v := range idpHooks {
		handler[k] = v
	}
	// "self" stands for the proxy's own origin, known only here.
	if handler["issuer"] == "self" {
		handler["issuer"] = "http://" + addr
	}
	cfg := map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"idp": map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{
				handler,
				map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": up.Host}}},
			}}},
		}}}},
	}
	b, _ := json.Marshal(cfg)
	if err := caddy.Load(b, true); err != nil {
		t.Fatalf("loading caddy config: %v", err)
	}
	return &proxy{Origin: "http://" + addr, Dir: dir}
}

// writeHook writes a hook file into dir and returns its path.
func writeHook(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// browser is an HTTP client with a cookie jar, like a user agent.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
