package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// recorder sits in front of the OpenID provider, behind Caddy, and keeps
// what the provider answered before idphooks touched it: the tokens of the
// last code redemptions, by code, and the last userinfo answers, by the
// provider's own access token (idphooks swaps its re-signed token back
// before userinfo reaches the provider). The page uses these only to show
// what idphooks changed; the application trusts none of it.
type recorder struct {
	tokenPath, userinfoPath string

	mu       sync.Mutex
	tokens   lastN[issuedTokens]
	userinfo lastN[[]byte]
}

// issuedTokens are the tokens of one token response of the provider.
type issuedTokens struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
}

const (
	// recorderKeeps bounds what the recorder holds: enough for the logins
	// of a demo, not a log.
	recorderKeeps = 32
	// maxRecorded bounds a recorded request or answer; a token response or
	// userinfo answer of the demo provider is a few KiB.
	maxRecorded = 64 << 10
)

func newRecorder() *recorder {
	return &recorder{
		tokenPath:    op.DefaultEndpoints.Token.Relative(),
		userinfoPath: op.DefaultEndpoints.Userinfo.Relative(),
		tokens:       newLastN[issuedTokens](recorderKeeps),
		userinfo:     newLastN[[]byte](recorderKeeps),
	}
}

// wrap returns next with the provider's token and userinfo answers
// recorded.
func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		switch {
		case r.Method == http.MethodPost && r.URL.Path == rec.tokenPath:
			key = codeOf(r)
		case r.URL.Path == rec.userinfoPath:
			key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		if tw.status() != http.StatusOK || tw.overflow || w.Header().Get("Content-Encoding") != "" {
			return
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if r.URL.Path == rec.tokenPath {
			var t issuedTokens
			if json.Unmarshal(tw.body.Bytes(), &t) == nil && t.IDToken != "" {
				rec.tokens.put(key, t)
			}
			return
		}
		rec.userinfo.put(key, bytes.Clone(tw.body.Bytes()))
	})
}

// codeOf is the code an authorization code grant redeems, "" for other
// requests. The body is read and put back for the provider.
func codeOf(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRecorded+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || len(body) > maxRecorded {
		return ""
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") != "authorization_code" {
		return ""
	}
	return form.Get("code")
}

// tokensFor returns, once, what the provider issued for code.
func (rec *recorder) tokensFor(code string) (issuedTokens, bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.tokens.take(code)
}

// userinfoFor returns, once, the claims the provider's userinfo endpoint
// answered for its access token accessToken.
func (rec *recorder) userinfoFor(accessToken string) (map[string]any, bool) {
	rec.mu.Lock()
	b, ok := rec.userinfo.take(accessToken)
	rec.mu.Unlock()
	var claims map[string]any
	if !ok || json.Unmarshal(b, &claims) != nil {
		return nil, false
	}
	return claims, true
}

// teeWriter passes an answer on and keeps a copy of its first maxRecorded
// bytes.
type teeWriter struct {
	http.ResponseWriter
	code     int
	body     bytes.Buffer
	overflow bool
}

func (w *teeWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.body.Len()+len(b) > maxRecorded {
		w.overflow = true
	} else {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// lastN is a map that keeps only its n newest keys.
type lastN[V any] struct {
	n     int
	order []string // oldest first
	vals  map[string]V
}

func newLastN[V any](n int) lastN[V] {
	return lastN[V]{n: n, vals: make(map[string]V, n)}
}

func (l *lastN[V]) put(k string, v V) {
	if _, ok := l.vals[k]; !ok {
		l.order = append(l.order, k)
		if len(l.order) > l.n {
			delete(l.vals, l.order[0])
			l.order = l.order[1:]
		}
	}
	l.vals[k] = v
}

// take returns k's value and forgets it.
func (l *lastN[V]) take(k string) (V, bool) {
	v, ok := l.vals[k]
	if ok {
		delete(l.vals, k)
		l.order = slices.DeleteFunc(l.order, func(o string) bool { return o == k })
	}
	return v, ok
}
