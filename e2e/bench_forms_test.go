package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// formsBenchIdP answers Keycloak's authenticate action: a redirect for the
// right password, its login page again (about 30 KB with a theme) with
// the error for a wrong one.
func formsBenchIdP(b *testing.B) *httptest.Server {
	var pad strings.Builder
	for pad.Len() < 26<<10 {
		pad.WriteString(`<li class="pf-v5-c-menu__list-item" role="none"><a role="menuitem" class="pf-v5-c-menu__item" href="/realms/acme/login-actions/authenticate?kc_locale=de&amp;client_id=web">Deutsch</a></li>`)
	}
	failure := `<!DOCTYPE html><html><head><title>Sign in</title></head><body><ul>` + pad.String() + `</ul>` +
		`<form id="kc-form-login" action="/realms/acme/login-actions/authenticate?session_code=S&amp;execution=E&amp;client_id=web&amp;tab_id=T" method="post">` +
		`<input id="username" name="username" value="jane" type="text"><div id="input-error-username"><span class="kc-feedback-text">Invalid username or password.</span></div>` +
		`<input id="password" name="password" type="password"><input type="hidden" name="credentialId"></form></body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("password") == "right" {
			w.Header().Set("Location", "http://app.bench/cb?code=C")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		io.WriteString(w, failure)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkCaddyForms: login posts through Caddy with idp_hooks' forms
// block + reverse_proxy against reverse_proxy alone, over real loopback
// connections: a successful post with no hook on the login form's events
// and with an after_identification hook, and a failed one whose 30 KB
// page at_failed_authentication rewrites.
func BenchmarkCaddyForms(b *testing.B) {
	idp := formsBenchIdP(b)
	for _, c := range []struct{ name, password, hook string }{
		{"login/no_hook", "right", `exports.onBeforeToken = () => {};`},
		{"login/after_identification", "right", `exports.onAfterIdentification = (e, api) => {};`},
		{"failed/no_hook", "wrong", `exports.onBeforeToken = () => {};`},
		{"failed/replace_error", "wrong", `exports.onAtFailedAuthentication = (e, api) => { api.replaceError("That did not work."); };`},
	} {
		for _, mode := range []struct {
			name  string
			plain bool
		}{{"reverse_proxy", true}, {"idp_hooks", false}} {
			if mode.plain && strings.HasSuffix(c.name, "/after_identification") || mode.plain && strings.HasSuffix(c.name, "/replace_error") {
				continue // the same as no_hook's
			}
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				dir := b.TempDir()
				origin := e2etest.LoadCaddy(b, e2etest.Config{
					Addr: e2etest.FreeAddr(b), Dir: dir, Upstream: idp.URL, Plain: mode.plain,
					Handler: map[string]any{"upstream": nil,
						"forms": map[string]any{"profile": map[string]any{"name": "keycloak", "realm_url": idp.URL + "/realms/acme"}},
						"hooks": []any{map[string]any{"path": e2etest.WriteHook(b, dir, "journey.js", c.hook)}}},
				})
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64},
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				body := url.Values{"username": {"jane"}, "password": {c.password}, "credentialId": {""}}.Encode()
				post := func() {
					resp, err := client.Post(origin+"/realms/acme/login-actions/authenticate?session_code=S&execution=E&client_id=web&tab_id=T",
						"application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					page, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if c.password == "right" && resp.StatusCode != http.StatusFound || c.password == "wrong" && !strings.Contains(string(page), "</form>") {
						b.Fatalf("%d %.300s", resp.StatusCode, page)
					}
				}
				post()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						post()
					}
				})
			})
		}
	}
}
