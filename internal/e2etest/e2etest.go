// Package e2etest is test support for the end-to-end packages (e2e and
// e2e/keycloak): it runs idphooks inside a process-global Caddy in front of
// a provider and drives the authorization code flow through it with a real
// relying-party library (coreos/go-oidc). It reports failures on the
// *testing.T it is given and is meant for tests only.
package e2etest

import (
	"context"
	"encoding/json"
	"io"
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
)

// Timeouts of Browser clients and Ctx contexts. A package whose provider
// is slower (Keycloak) raises them in its TestMain, before any test runs.
var (
	ClientTimeout = 15 * time.Second
	CtxTimeout    = 60 * time.Second
)

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Config is one Caddy config: an idp_hooks handler before a reverse_proxy
// to the provider, on one plain-HTTP listener.
type Config struct {
	Addr     string // host:port Caddy listens on
	Dir      string // idphooks' state (state.db) and Caddy's storage live here
	Upstream string // the provider's issuer URL, the idp_hooks upstream
	Dial     string // host:port reverse_proxy dials; empty: Upstream's host
	// Handler holds further idp_hooks fields; they override the defaults.
	Handler map[string]any
	// SelfIssuer replaces an "issuer" of "self" in Handler, which stands
	// for the proxy's own issuer and is known only once Addr is.
	SelfIssuer string
	LogLevel   string // Caddy's default log level; empty: ERROR
	// LogFile, when set, is where Caddy's default log goes (JSON lines)
	// instead of stderr, for a test to read.
	LogFile string
	// Admin, when set, is the admin endpoint's address (metrics are
	// served there); empty turns the admin endpoint off.
	Admin string
	// Plain leaves idp_hooks out: reverse_proxy alone, the baseline of
	// pass-through measurements.
	Plain bool
}

// LoadCaddy loads c into the process-global Caddy (admin endpoint off,
// file_system storage under c.Dir), replacing any running config; loading
// again with the same Dir is a config reload. The config stops when the
// test ends. It returns the origin, http://Addr.
func LoadCaddy(t testing.TB, c Config) string {
	t.Helper()
	dial := c.Dial
	if dial == "" {
		up, err := url.Parse(c.Upstream)
		if err != nil {
			t.Fatalf("upstream %q: %v", c.Upstream, err)
		}
		dial = up.Host
	}
	level := c.LogLevel
	if level == "" {
		level = "ERROR"
	}
	handler := map[string]any{"handler": "idp_hooks", "upstream": c.Upstream}
	if _, ok := c.Handler["state"]; !ok {
		handler["state_path"] = filepath.Join(c.Dir, "state.db")
	}
	for k, v := range c.Handler {
		handler[k] = v
	}
	if handler["issuer"] == "self" {
		handler["issuer"] = c.SelfIssuer
	}
	defaultLog := map[string]any{"level": level}
	if c.LogFile != "" {
		defaultLog["writer"] = map[string]any{"output": "file", "filename": c.LogFile}
	}
	cfg := map[string]any{
		"admin":   adminConfig(c.Admin),
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(c.Dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": defaultLog}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"idp": map[string]any{
			"listen":          []string{c.Addr},
			"automatic_https": map[string]any{"disable": true},
			"routes":          []any{map[string]any{"handle": handlers(c.Plain, handler, dial)}},
		}}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := caddy.Load(b, true); err != nil {
		t.Fatalf("loading caddy config: %v", err)
	}
	// Stopped before the test's folders go (cleanups run last first):
	// a config left running writes into c.Dir (keys, the audit) while
	// they are removed.
	t.Cleanup(func() { _ = caddy.Stop() })
	return "http://" + c.Addr
}

func adminConfig(addr string) map[string]any {
	if addr == "" {
		return map[string]any{"disabled": true}
	}
	return map[string]any{"listen": addr}
}

func handlers(plain bool, idpHooks map[string]any, dial string) []any {
	proxy := map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": dial}}}
	if plain {
		return []any{proxy}
	}
	return []any{idpHooks, proxy}
}

// WriteHook writes a hook file into dir and returns its path.
func WriteHook(t testing.TB, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Browser is an HTTP client with a cookie jar, like a user agent.
func Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: ClientTimeout}
}

// Ctx is a context that ends after CtxTimeout or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), CtxTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Get fetches u on a connection of its own and returns the body. A
// pooled connection to a server that a config reload has just replaced
// may be closed under the request (EOF), which is the old server's
// graceful shutdown, not what a test is about.
func Get(t testing.TB, u string) string {
	t.Helper()
	c := &http.Client{Timeout: ClientTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
