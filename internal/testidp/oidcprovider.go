package testidp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Client ids and secrets registered at oidc-provider.
const (
	// OIDCProviderBasicClientID authenticates with client_secret_basic.
	OIDCProviderBasicClientID     = "web-basic"
	OIDCProviderBasicClientSecret = "web-basic-secret-0123456789abcdef"
	// OIDCProviderPostClientID authenticates with client_secret_post.
	OIDCProviderPostClientID     = "web-post"
	OIDCProviderPostClientSecret = "web-post-secret-0123456789abcdef"

	// OIDCProviderResource is the resource indicator (RFC 8707) for which
	// oidc-provider issues RFC 9068 JWT access tokens (typ at+jwt, aud =
	// the resource). Without a resource parameter access tokens are opaque.
	OIDCProviderResource = "https://api.example.test"
	// OIDCProviderResourceScope is the scope the resource server accepts;
	// request it together with the resource.
	OIDCProviderResourceScope = "api:read"
)

// OIDCProviderOptions configures StartOIDCProvider.
type OIDCProviderOptions struct {
	// RedirectURIs are registered for both clients (exact match). Empty
	// means DefaultRedirectURI.
	RedirectURIs []string
	// PostLogoutRedirectURIs are accepted by the end_session endpoint.
	PostLogoutRedirectURIs []string
	// Log, when set, receives node's stdout and stderr.
	Log io.Writer
	// StartTimeout bounds npm ci plus the start of node; default 2 minutes.
	StartTimeout time.Duration
}

// StartOIDCProvider runs npm oidc-provider (v9, pinned in
// oidcprovider/package-lock.json) under node on 127.0.0.1 with a random port.
// It runs "npm ci" in the oidcprovider folder first when node_modules is
// missing, so node and npm must be on PATH.
//
// Clients: OIDCProviderBasicClientID (client_secret_basic) and
// OIDCProviderPostClientID (client_secret_post), confidential web clients
// with the authorization_code and refresh_token grants. Features: dev
// interactions (a login form whose password is checked against TestUser
// and SecondUser, then a consent form), PKCE (S256), userinfo (/me),
// introspection (/token/introspection), revocation (/token/revocation),
// RP-initiated logout (/session/end), resource indicators. Refresh tokens
// are issued for scope offline_access, which needs prompt=consent in the
// authorization request. The provider honours X-Forwarded-Host/Proto when it
// builds URLs, its issuer stays http://127.0.0.1:PORT. The authorization
// response carries the RFC 9207 iss parameter.
func StartOIDCProvider(opts OIDCProviderOptions) (*Provider, error) {
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	dir, err := OIDCProviderDir()
	if err != nil {
		return nil, err
	}
	if err := NPMCI(ctx, dir, "oidc-provider", opts.Log); err != nil {
		return nil, err
	}

	redirects := opts.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	type account struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Sub      string `json:"sub"`
		Email    string `json:"email"`
		Name     string `json:"name"`
	}
	type client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
		Method string `json:"token_endpoint_auth_method"`
	}
	post := opts.PostLogoutRedirectURIs
	if post == nil {
		post = []string{}
	}
	conf, err := json.Marshal(map[string]any{
		"clients": []client{
			{OIDCProviderBasicClientID, OIDCProviderBasicClientSecret, "client_secret_basic"},
			{OIDCProviderPostClientID, OIDCProviderPostClientSecret, "client_secret_post"},
		},
		"redirect_uris":             redirects,
		"post_logout_redirect_uris": post,
		"resource":                  OIDCProviderResource,
		"resource_scope":            OIDCProviderResourceScope,
		"accounts": []account{
			{TestUser.Username, TestUser.Password, TestUser.Subject, TestUser.Email, TestUser.Name},
			{SecondUser.Username, SecondUser.Password, SecondUser.Subject, SecondUser.Email, SecondUser.Name},
		},
	})
	if err != nil {
		return nil, err
	}

	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TESTIDP_CONFIG="+string(conf), "NODE_ENV=development")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &TailBuffer{Max: 16 << 10, W: opts.Log}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testidp: oidc-provider: start node: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() error {
		stdin.Close() // server.mjs exits when its stdin closes
		select {
		case <-exited:
			return nil
		case <-time.After(5 * time.Second):
		}
		_ = cmd.Process.Kill()
		<-exited
		return nil
	}
	fail := func(err error) (*Provider, error) {
		stop()
		return nil, fmt.Errorf("testidp: oidc-provider: %w\nnode stderr:\n%s", err, stderr.String())
	}

	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "listening "); ok && !sent {
				portc <- strings.TrimSpace(p)
				sent = true
			}
			if opts.Log != nil {
				fmt.Fprintln(opts.Log, line)
			}
		}
	}()
	var port string
	select {
	case port = <-portc:
	case <-exited:
		return fail(fmt.Errorf("node exited: %v", waitErr))
	case <-ctx.Done():
		return fail(errors.New("node did not report its port in time"))
	}
	issuer := "http://127.0.0.1:" + port
	if err := waitDiscovery(ctx, issuer, timeout, exited); err != nil {
		return fail(err)
	}
	return &Provider{
		Name: "oidc-provider",
		Clients: []Client{
			{ID: OIDCProviderBasicClientID, Secret: OIDCProviderBasicClientSecret, AuthStyle: oauth2.AuthStyleInHeader},
			{ID: OIDCProviderPostClientID, Secret: OIDCProviderPostClientSecret, AuthStyle: oauth2.AuthStyleInParams},
		},
		Resource:      OIDCProviderResource,
		ResourceScope: OIDCProviderResourceScope,
		issuer:        issuer,
		closeFn:       stop,
	}, nil
}

// OIDCProviderDir returns the folder holding server.mjs and package.json:
// the oidcprovider folder next to this source file, or, when sources were
// moved or paths trimmed, internal/testidp/oidcprovider under the module
// root found from the working directory.
func OIDCProviderDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "oidcprovider")
		if fileExists(filepath.Join(d, "server.mjs")) {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, "go.mod")) {
			p := filepath.Join(d, "internal", "testidp", "oidcprovider")
			if fileExists(filepath.Join(p, "server.mjs")) {
				return p, nil
			}
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", errors.New("testidp: cannot find internal/testidp/oidcprovider/server.mjs")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TailBuffer keeps the last Max bytes written (a child process' output,
// for the error when it fails) and copies them to W.
type TailBuffer struct {
	mu  sync.Mutex
	buf []byte
	Max int
	W   io.Writer
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = t.buf[len(t.buf)-t.Max:]
	}
	if t.W != nil {
		t.W.Write(p)
	}
	return len(p), nil
}

func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
