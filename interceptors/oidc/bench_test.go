package oidc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

var benchAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}

// BenchmarkTokenRewrite is the whole token-response path: parse, verify the
// upstream ID token (RS256), run one sync hook, re-sign with idphooks' key,
// remember the edits for userinfo, write. The upstream answer comes from
// memory, so only idphooks' CPU is measured.
func BenchmarkTokenRewrite(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			idp := newTestIdP(b)
			h := newHarnessAlg(b, idp, []hookSpec{{src: tierHook}}, nil, alg)
			body := idp.tokenResponse("opaque-at")
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Content-Type", "application/json")
				_, err := w.Write(body)
				return err
			})
			form := codeForm().Encode()
			u, _ := url.Parse("http://idp.test/token")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// Built by hand: httptest.NewRequest parses a request text,
				// which would add its own cost to idphooks'.
				r := &http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Body: io.NopCloser(stringsReader(form)),
					ContentLength: int64(len(form)), Header: http.Header{
						"Content-Type":  {"application/x-www-form-urlencoded"},
						"Authorization": {"Basic d2ViOnNlY3JldA=="},
					}}
				r = r.WithContext(context.Background())
				w := httptest.NewRecorder()
				if err := h.ic.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
					b.Fatalf("%v %d %s", err, w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkTokenRewriteBare is the bare cost the rewrite contains: verify
// the same upstream ID token, run the same hook, sign the same claims.
// BenchmarkTokenRewrite / BenchmarkTokenRewriteBare is the overhead ratio.
func BenchmarkTokenRewriteBare(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			idp := newTestIdP(b)
			h := newHarnessAlg(b, idp, []hookSpec{{src: tierHook}}, nil, alg)
			ctx := context.Background()
			idt := idp.idToken()
			hook := h.hooks[0].Runner
			spec, _ := events.Lookup(events.BeforeToken)
			v0, err := h.ic.verify.Verify(ctx, idt, true, "http://idp.test")
			if err != nil {
				b.Fatal(err)
			}
			// The same event the full path hands the hook.
			e := events.New(events.BeforeToken, "web", events.Request{})
			e.User = tokenUser(v0, nil)
			e.Data = tokenEventData(codeForm(), "authorization_code", "web", nil, v0, nil)
			ev := e.Map()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				v, err := h.ic.verify.Verify(ctx, idt, true, "http://idp.test")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := hook.Run(ctx, sandbox.Invocation{Handler: "onBeforeToken", Event: ev, API: spec.API(nil)}); err != nil {
					b.Fatal(err)
				}
				v.Claims["tier"] = "gold"
				if _, _, err := h.keys.SignJWT(v.Claims, "JWT"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPassThrough measures what idphooks adds to a request it does not
// intercept, against the same next handler called directly.
func BenchmarkPassThrough(b *testing.B) {
	idp := newTestIdP(b)
	h := newHarness(b, idp, []hookSpec{{src: tierHook}}, nil)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, err := w.Write([]byte("ok"))
		return err
	})
	u, _ := url.Parse("http://idp.test/authorize?client_id=web&response_type=code")
	run := func(b *testing.B, serve func(http.ResponseWriter, *http.Request) error) {
		b.ReportAllocs()
		for b.Loop() {
			r := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, Host: u.Host}
			w := httptest.NewRecorder()
			if err := serve(w, r); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) { run(b, next.ServeHTTP) })
	b.Run("idp_hooks", func(b *testing.B) {
		run(b, func(w http.ResponseWriter, r *http.Request) error { return h.ic.ServeHTTP(w, r, next) })
	})
}
