package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/testidp"
)

// TestDemo starts the whole demo on free ports and logs in headlessly: alice
// sees the hook's claims, bob is denied by the hook.
func TestDemo(t *testing.T) {
	t.Chdir("../..") // the demo runs from the repository root
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	d, err := start(ctx, config{
		Listen:    "localhost:0",
		IdP:       "127.0.0.1:0",
		App:       "localhost:0",
		Caddyfile: "demo/Caddyfile",
		DataDir:   t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	home, status := get(t, ctx, newClient(t), d.AppURL+"/")
	if status != http.StatusOK || !strings.Contains(home, `href="/login"`) {
		t.Fatalf("home: HTTP %d\n%s", status, home)
	}

	t.Run("alice sees the hook's claims", func(t *testing.T) {
		body, status := loginAs(t, ctx, d, "alice", "alice-password")
		if status != http.StatusOK {
			t.Fatalf("callback: HTTP %d\n%s", status, body)
		}
		for _, want := range []string{
			`<strong id="subject">alice</strong>`,
			"ID token", "Access token (JWT)", "Userinfo",
			// ID token claims set by demo/claims.js, highlighted
			`<tr class="hook"><td class="n">tier</td><td class="v">&#34;gold&#34;</td></tr>`,
			`<tr class="hook"><td class="n">roles</td><td class="v">[&#34;admin&#34;,&#34;editor&#34;]</td></tr>`,
			`<tr class="hook"><td class="n">email_domain</td><td class="v">&#34;example.com&#34;</td></tr>`,
			// access token and userinfo
			`<tr class="hook"><td class="n">department</td><td class="v">&#34;Engineering&#34;</td></tr>`,
			`<tr class="hook"><td class="n">hooked_at</td>`,
			// claims of the provider are not highlighted
			`<tr><td class="n">email</td><td class="v">&#34;alice@example.com&#34;</td></tr>`,
			"at_hash verified",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if t.Failed() {
			t.Logf("page:\n%s", body)
		}
	})

	t.Run("bob is denied by the hook", func(t *testing.T) {
		body, status := loginAs(t, ctx, d, "bob", "bob-password")
		if status != http.StatusForbidden {
			t.Fatalf("callback: HTTP %d, want 403\n%s", status, body)
		}
		for _, want := range []string{"Access denied by the hook", "bob&#39;s account is suspended"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
	})
}

// loginAs runs the browser's part of a login: the application's login link,
// the provider's login form through Caddy, and the application's callback.
func loginAs(t *testing.T, ctx context.Context, d *demo, user, password string) (string, int) {
	t.Helper()
	c := newClient(t)
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.AppURL+"/login", nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authorize := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authorize, d.Issuer+"/") {
		t.Fatalf("login: HTTP %d to %q, want a redirect to %s", resp.StatusCode, authorize, d.Issuer)
	}
	callback, err := testidp.Login(ctx, c, authorize, user, password)
	if err != nil {
		t.Fatal(err)
	}
	return get(t, ctx, c, callback.String())
}

func newClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func get(t *testing.T, ctx context.Context, c *http.Client, u string) (string, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
