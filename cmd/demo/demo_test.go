package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/testidp"
)

// TestDemo starts the whole demo on free ports and logs in headlessly: alice
// sees the hook's claims compared with the IdP's and idphooks' signature,
// bob is denied by the hook.
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
			// ID token claims demo/claims.js added, changed and removed,
			// compared with what the IdP issued
			`<tr class="added"><td class="n">tier</td><td class="v">&#34;gold&#34;</td><td class="m">added</td></tr>`,
			`<tr class="added"><td class="n">roles</td><td class="v">[&#34;admin&#34;,&#34;editor&#34;]</td><td class="m">added</td></tr>`,
			`<tr class="added"><td class="n">email_domain</td><td class="v">&#34;example.com&#34;</td><td class="m">added</td></tr>`,
			`<tr class="changed"><td class="n">name</td><td class="v"><del>&#34;Alice Example&#34;</del> → &#34;Alice Example (Engineering)&#34;</td><td class="m">changed</td></tr>`,
			`<tr class="removed"><td class="n"><del>locale</del></td><td class="v"><del>&#34;en&#34;</del></td><td class="m">removed</td></tr>`,
			// idphooks itself binds the ID token to its re-signed access token
			`<td class="m">changed: recomputed by idphooks for the re-signed access token</td>`,
			// claims of the provider the hook left alone
			`<tr class="unchanged"><td class="n">email</td><td class="v">&#34;alice@example.com&#34;</td><td class="m">unchanged</td></tr>`,
			// access token and userinfo
			`<tr class="added"><td class="n">department</td><td class="v">&#34;Engineering&#34;</td><td class="m">added</td></tr>`,
			`<tr class="added"><td class="n">hooked_at</td>`,
			"at_hash.",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		// Userinfo repeats the ID token's edits, compared with the IdP's answer.
		_, userinfo, _ := strings.Cut(body, `<h2 id="userinfo">`)
		for _, want := range []string{`<tr class="changed"><td class="n">name</td>`, `<tr class="removed"><td class="n"><del>locale</del>`} {
			if !strings.Contains(userinfo, want) {
				t.Errorf("userinfo lacks %s", want)
			}
		}

		// Both tokens name a key idphooks publishes and the IdP does not.
		ours, idps := publishedKids(t, ctx, d.Issuer), publishedKids(t, ctx, "http://"+d.IdPAddr)
		for _, id := range []string{"id-token", "access-token"} {
			m := regexp.MustCompile(`<p class="signer" id="signer-` + id + `">signed by idphooks \(kid ([^,]+), RS256`).FindStringSubmatch(body)
			if m == nil {
				t.Errorf("%s: no signer line naming idphooks", id)
				continue
			}
			if !ours[m[1]] || idps[m[1]] {
				t.Errorf("%s: kid %s: in idphooks' set %v, in the IdP's %v; want only idphooks'", id, m[1], ours[m[1]], idps[m[1]])
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

// publishedKids are the kids of the key set that origin's discovery names.
func publishedKids(t *testing.T, ctx context.Context, origin string) map[string]bool {
	t.Helper()
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, ctx, origin+"/.well-known/openid-configuration", &meta)
	// The provider's discovery names the public origin; read its keys from
	// its own.
	u, err := url.Parse(meta.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(t, ctx, origin+u.Path, &set)
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	return kids
}

func getJSON(t *testing.T, ctx context.Context, u string, v any) {
	t.Helper()
	body, status := get(t, ctx, http.DefaultClient, u)
	if status != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, status)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
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
