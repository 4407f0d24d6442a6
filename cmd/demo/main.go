// Command demo runs idphooks in front of a real OpenID provider, with no
// external services, in one process:
//
//   - the zitadel/oidc example OpenID provider on -idp (127.0.0.1:9998),
//     whose issuer is Caddy's public origin;
//   - Caddy with idphooks on -listen (http://localhost:8080), configured by
//     demo/Caddyfile: idp_hooks runs demo/claims.js on token and userinfo
//     responses, then reverse_proxy passes the traffic to the provider;
//   - a relying party on -app (http://localhost:9090) that discovers the
//     provider through Caddy only, logs users in with the authorization code
//     flow, verifies the ID token with idphooks' published keys and shows
//     the claims, each compared with what the provider issued (recorded in
//     front of the provider, behind Caddy) and marked added, changed or
//     removed, and who signed each token: idphooks' key or the provider's.
//
// Run it from the repository root:
//
//	go run ./cmd/demo
//
// then open http://localhost:9090 and log in as alice / alice-password
// (bob / bob-password is denied by the hook).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"github.com/zitadel/oidc/v3/pkg/op"

	_ "github.com/idphooks/idphooks/caddymodule"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.Listen, "listen", "localhost:8080", "host:port of Caddy with idphooks: the public origin of the identity provider")
	flag.StringVar(&cfg.IdP, "idp", "127.0.0.1:9998", "host:port the OpenID provider listens on (behind Caddy)")
	flag.StringVar(&cfg.App, "app", "localhost:9090", "host:port of the demo application (relying party)")
	flag.StringVar(&cfg.Caddyfile, "config", "demo/Caddyfile", "Caddyfile of the demo")
	flag.StringVar(&cfg.DataDir, "data", ".demo", "folder for idphooks' keys and state (kept across runs)")
	flag.BoolVar(&cfg.Verbose, "v", false, "log every request of the provider and Caddy's info logs")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	d, err := start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	fmt.Printf(`
idphooks demo is running.

  application (relying party)  %s
  Caddy + idphooks (issuer)    %s
  OpenID provider (direct)     http://%s
  hook                         %s

Open %s and log in as

  alice / alice-password   the hook adds tier, roles and email_domain,
                           changes name and removes locale
  bob   / bob-password     the hook denies the login (api.deny)

Press Ctrl-C to stop.
`, d.AppURL, d.Issuer, d.IdPAddr, d.Hook, d.AppURL)

	<-ctx.Done()
	fmt.Println("\nstopping…")
	d.Close()
}

// config is what the flags set.
type config struct {
	Listen    string // Caddy, the public origin; port 0 picks a free one
	IdP       string // the OpenID provider; port 0 picks a free one
	App       string // the relying party; port 0 picks a free one
	Caddyfile string
	DataDir   string
	Verbose   bool
}

// demo is a running demo.
type demo struct {
	Issuer  string // http://localhost:8080
	AppURL  string // http://localhost:9090
	IdPAddr string // 127.0.0.1:9998
	Hook    string

	closers []func()
}

// start starts the provider, Caddy and the application, in that order, and
// returns once the application has read the provider's discovery document
// through Caddy.
func start(ctx context.Context, cfg config) (_ *demo, err error) {
	d := &demo{Hook: "demo/claims.js"}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if _, err := os.Stat(d.Hook); err != nil {
		return nil, fmt.Errorf("%w (run the demo from the repository root)", err)
	}
	level := slog.LevelWarn
	caddyLevel := "WARN"
	if cfg.Verbose {
		level, caddyLevel = slog.LevelInfo, "INFO"
	}
	// The example OP logs every request through the default slog logger.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

	appLn, err := net.Listen("tcp", cfg.App)
	if err != nil {
		return nil, fmt.Errorf("application: %w", err)
	}
	d.closers = append(d.closers, func() { appLn.Close() })
	idpLn, err := net.Listen("tcp", cfg.IdP)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	d.closers = append(d.closers, func() { idpLn.Close() })
	d.IdPAddr = idpLn.Addr().String()
	publicHostPort, err := pickPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	d.Issuer = "http://" + publicHostPort
	d.AppURL = "http://" + withPort(cfg.App, appLn.Addr())

	// 1. The OpenID provider, with what it answers recorded for the page.
	issued := newRecorder()
	idp := newIdP(d.Issuer, d.AppURL+"/callback")
	d.closers = append(d.closers, serve(idpLn, issued.wrap(idp)))

	// 2. Caddy with idphooks in front of it.
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	// Keys and state are local to this checkout: keep them out of git.
	_ = os.WriteFile(filepath.Join(dataDir, ".gitignore"), []byte("*\n"), 0o600)
	if err := startCaddy(cfg.Caddyfile, map[string]string{
		"IDPHOOKS_DEMO_SITE":      d.Issuer,
		"IDPHOOKS_DEMO_IDP":       d.IdPAddr,
		"IDPHOOKS_DEMO_DATA":      dataDir,
		"IDPHOOKS_DEMO_LOG_LEVEL": caddyLevel,
	}); err != nil {
		return nil, fmt.Errorf("caddy: %w", err)
	}
	d.closers = append(d.closers, func() { _ = caddy.Stop() })

	// 3. The relying party, which trusts nothing but Caddy's origin; its
	// page alone also reads the recorder and the provider's own key set.
	a, err := newApp(ctx, d.Issuer, d.AppURL, issued, "http://"+d.IdPAddr+op.DefaultEndpoints.JwksURI.Relative())
	if err != nil {
		return nil, fmt.Errorf("application: %w", err)
	}
	d.closers = append(d.closers, serve(appLn, a))
	return d, nil
}

// Close stops the application, Caddy and the provider.
func (d *demo) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// startCaddy adapts the Caddyfile, with env giving the values of its
// {$VAR} placeholders, and loads it.
func startCaddy(path string, env map[string]string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// The Caddyfile adapter reads {$VAR} from the environment.
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		return errors.New("caddyfile adapter not registered")
	}
	cfgJSON, warnings, err := adapter.Adapt(body, map[string]any{"filename": path})
	if err != nil {
		return fmt.Errorf("adapt %s: %w", path, err)
	}
	for _, w := range warnings {
		slog.Warn("caddyfile", "warning", w.String())
	}
	return caddy.Load(cfgJSON, true)
}

// pickPort returns hostPort, with a free port chosen when its port is 0,
// and "localhost" when its host is empty. Caddy binds the port itself, so
// a free one is found by binding and releasing it.
func pickPort(hostPort string) (string, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	if host == "" {
		host = "localhost"
	}
	if port == "0" {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", err
		}
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		ln.Close()
	}
	return net.JoinHostPort(host, port), nil
}

// withPort is the host of hostPort (localhost when empty or unspecified)
// with the port of addr.
func withPort(hostPort string, addr net.Addr) string {
	host, _, _ := net.SplitHostPort(hostPort)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return net.JoinHostPort(host, port)
}

// waitFor retries f until it succeeds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
