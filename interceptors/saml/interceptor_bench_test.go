package saml

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// keycloakTheme pads a page to the size of Keycloak's themed POST page
// (about 16 kB): styles and scripts idphooks must read past.
var keycloakTheme = `<link rel="stylesheet" href="/resources/x/common/keycloak/vendor/patternfly-v5/patternfly.min.css">` +
	strings.Repeat(`<script type="module">/* keycloak.v2 theme */ const a = document.querySelectorAll("input"); for (const i of a) { i.dataset.x = "y"; }</script>`+"\n", 90)

func benchPage(b *testing.B) string {
	p := postPage(benchDoc(b), "https://sp.example.org/app?x=1")
	return strings.Replace(p, "<head>", "<head>"+keycloakTheme, 1)
}

func benchInterceptor(b *testing.B, hook, page string) {
	t := &testing.T{}
	h := newHarness(t, hook, nil)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
		return nil
	})
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/realms/acme/login-actions/authenticate", nil)
		if err := h.ic.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
			b.Fatalf("%v %d %s", err, w.Code, w.Body)
		}
	}
}

const benchHook = `exports.onBeforeSamlAssertion = (event, api) => {
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.removeAttribute("attr0");
};`

// BenchmarkInterceptorPostPage: a Keycloak-sized POST page with a
// typical response (10 attributes, signed assertion, RSA-2048) through
// the whole interceptor: capture, page parse, decode, verify, hook, edit,
// re-sign, encode, splice. Compare with BenchmarkBareVerifySign.
func BenchmarkInterceptorPostPage(b *testing.B) { benchInterceptor(b, benchHook, benchPage(b)) }

// BenchmarkInterceptorPostPageNoHook: the same without a hook: verify and
// re-sign only.
func BenchmarkInterceptorPostPageNoHook(b *testing.B) { benchInterceptor(b, "", benchPage(b)) }

// BenchmarkInterceptorLoginPage: an IdP page without a SAML message (a
// login form), what most HTML through idphooks is: held, scanned, passed.
func BenchmarkInterceptorLoginPage(b *testing.B) {
	page := `<!DOCTYPE html><html><head>` + keycloakTheme + `</head><body><form id="kc-form-login" method="post" action="/realms/acme/login-actions/authenticate?session_code=x"><input name="username"><input type="password" name="password"></form></body></html>`
	benchInterceptor(b, "", page)
}
