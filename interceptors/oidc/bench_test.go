package oidc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/internal/cputime"
	"github.com/idphooks/idphooks/sandbox"
	"github.com/idphooks/idphooks/store"
)

var benchAlgs = []string{"RS256", "PS256", "ES256", "EdDSA"}

// BenchmarkTokenRewrite is the whole token-response path: parse, verify the
// upstream ID token (RS256), run one sync hook, re-sign with idphooks' key,
// remember the edits for userinfo, write. The upstream answer comes from
// memory, so only idphooks' CPU is measured.
func BenchmarkTokenRewrite(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			full, _ := rewriteBench(b, alg, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				full()
			}
		})
	}
}

// rewriteBench returns one full token-response rewrite and the bare work
// it contains (verify the same upstream ID token, run the same hook on the
// same event, sign the same claims), as functions to call in a loop.
//
// Swaps are kept in memory unless swaps is given.
func rewriteBench(b *testing.B, alg string, swaps Swaps) (full, bare func()) {
	idp := newTestIdP(b)
	var mod func(*Config)
	if swaps != nil {
		mod = func(c *Config) { c.Swaps = swaps }
	}
	h := newHarnessAlg(b, idp, []hookSpec{{src: tierHook}}, mod, alg)
	body := idp.tokenResponse("opaque-at")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		_, err := w.Write(body)
		return err
	})
	form := codeForm().Encode()
	u, _ := url.Parse("http://idp.test/token")
	// The request and the writer are reused: what Caddy allocates for a
	// request is not idphooks' cost.
	reqBody := strings.NewReader(form)
	r := (&http.Request{Method: http.MethodPost, URL: u, Host: u.Host, Body: io.NopCloser(reqBody),
		ContentLength: int64(len(form))}).WithContext(context.Background())
	hdr := http.Header{}
	w := &discardWriter{h: http.Header{}}
	full = func() {
		reqBody.Reset(form)
		r.Body = io.NopCloser(reqBody)
		clear(hdr)
		hdr["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		hdr["Authorization"] = []string{"Basic d2ViOnNlY3JldA=="}
		r.Header = hdr
		clear(w.h)
		w.status = 0
		if err := h.ic.ServeHTTP(w, r, next); err != nil || w.status != 200 {
			b.Fatalf("%v %d", err, w.status)
		}
	}

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
	e.Data = tokenEventData(&tokenRound{params: codeForm(), grant: "authorization_code", clientID: "web", idTok: v0})
	ev := e.Map()
	bare = func() {
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
	return full, bare
}

// BenchmarkTokenRewriteOverhead reports cpu-ratio: the process CPU time
// (GC and hook workers included) of full rewrites over that of the bare
// work they contain, measured in interleaved blocks so that a noisy
// machine weighs on both alike. The goal is at most 1.25.
func BenchmarkTokenRewriteOverhead(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) { overhead(b, alg, nil) })
	}
}

// BenchmarkTokenRewriteOverheadBolt is the same with swaps in the
// production store: bbolt with write-behind batches and a flush every
// second, whose commits run in the background but count as process CPU.
func BenchmarkTokenRewriteOverheadBolt(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			db, err := store.OpenBolt(b.TempDir()+"/state.db", store.BoltOptions{SyncEvery: time.Second, WriteBehind: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			overhead(b, alg, newMemSwaps(b, db.Bucket("swaps")))
		})
	}
}

func overhead(b *testing.B, alg string, swaps Swaps) {
	full, bare := rewriteBench(b, alg, swaps)
	// Blocks of about a millisecond: a burst of other load on a shared
	// machine then falls on both sides alike. (Blocks of 50 gave the same
	// medians with twice the spread.)
	const block = 10
	var fullCPU, bareCPU time.Duration
	runs := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%block == 0 {
			runs += block
			start := cputime.Process()
			for range block {
				full()
			}
			fullCPU += cputime.Process() - start
			start = cputime.Process()
			for range block {
				bare()
			}
			bareCPU += cputime.Process() - start
		}
	}
	if bareCPU > 0 {
		b.ReportMetric(float64(fullCPU)/float64(bareCPU), "cpu-ratio")
		b.ReportMetric(float64(fullCPU.Microseconds())/float64(runs), "full-cpu-µs")
		b.ReportMetric(float64(bareCPU.Microseconds())/float64(runs), "bare-cpu-µs")
	}
}

// BenchmarkTokenRewriteBare is the bare cost the rewrite contains.
// BenchmarkTokenRewrite / BenchmarkTokenRewriteBare is the overhead ratio
// (BenchmarkTokenRewriteOverhead measures it more robustly).
func BenchmarkTokenRewriteBare(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			_, bare := rewriteBench(b, alg, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				bare()
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

// discardWriter is a reusable ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(p), nil
}

// BenchmarkTokenParse is the strict one-pass read of a token response.
func BenchmarkTokenParse(b *testing.B) {
	body := newTestIdP(b).tokenResponse("opaque-at")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokenFields(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTokenSplice writes a new ID token where the IdP's stood.
func BenchmarkTokenSplice(b *testing.B) {
	body := newTestIdP(b).tokenResponse("opaque-at")
	f, err := tokenFields(body)
	if err != nil {
		b.Fatal(err)
	}
	newID := f.IDToken[:len(f.IDToken)-40] + strings.Repeat("x", 60)
	b.ReportAllocs()
	for b.Loop() {
		spliceTokens(body, f, f.AccessToken, newID)
	}
}

// BenchmarkPutSwap stores the swap entry of a rewritten ID token: encode,
// derive keys, seal, store (in memory).
func BenchmarkPutSwap(b *testing.B) {
	idp := newTestIdP(b)
	h := newHarness(b, idp, []hookSpec{{src: tierHook}}, nil)
	idt := idp.idToken()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	e := swapEntry{Upstream: idt, ClientID: "web", IDTokenEdits: []claimEdit{{Name: "tier", Value: "gold"}}}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.ic.putSwaps(ctx, swapPut{idt, e, exp}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserinfo is a userinfo call with an access token idphooks
// rewrote: find its swap entry, send the IdP its own token, replay the ID
// token's hook edits on the answer and run a before_userinfo hook. The
// IdP's answer comes from memory. swap-back is the same request with no
// userinfo hook and nothing to replay (only the swap).
func BenchmarkUserinfo(b *testing.B) {
	userinfoHook := `exports.onBeforeUserinfo = (event, api) => { api.userinfo.setClaim("seen", true) };`
	for _, c := range []struct {
		name  string
		hooks []hookSpec
	}{
		{"hook+replay", []hookSpec{{src: tierHook}, {src: userinfoHook}}},
		{"swap-back", nil},
	} {
		b.Run(c.name, func(b *testing.B) {
			idp := newTestIdP(b)
			idp.token = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(idp.tokenResponse(idp.jwtAccessToken()))
			}
			hooks := c.hooks
			if hooks == nil {
				// A token hook makes the rewrite; it is not run again.
				hooks = []hookSpec{{src: tierHook}}
			}
			h := newHarness(b, idp, hooks, nil)
			resp := decodeJSON(b, h.do(tokenRequest(codeForm())).Body.Bytes())
			ours, _ := resp["access_token"].(string)
			if ours == "" {
				b.Fatalf("no access token: %v", resp)
			}
			if c.hooks == nil {
				// Keep the swap entry, drop the hooks: a plain swap-back.
				h.ic.cfg.Dispatcher = events.NewDispatcher(nil, events.Options{})
			}
			answer := []byte(`{"sub":"alice","email":"alice@example.com","email_verified":true,"name":"Alice"}`)
			next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				if r.Header.Get("Authorization") == "Bearer "+ours {
					return errors.New("the IdP got idphooks' token")
				}
				w.Header().Set("Content-Type", "application/json")
				_, err := w.Write(answer)
				return err
			})
			u, _ := url.Parse("http://idp.test/userinfo")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				r := (&http.Request{Method: http.MethodGet, URL: u, Host: u.Host,
					Header: http.Header{"Authorization": {"Bearer " + ours}}}).WithContext(context.Background())
				clear(w.h)
				w.status = 0
				if err := h.ic.ServeHTTP(w, r, next); err != nil || w.status != 200 {
					b.Fatalf("%v %d", err, w.status)
				}
			}
		})
	}
}
