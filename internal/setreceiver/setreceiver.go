// Package setreceiver runs an RFC 8935 push receiver for tests that
// checks every Security Event Token the way a real one does, with a JOSE
// library of its own (go-jose), not idphooks' code: the media types, the
// signature against the keys it fetches from the transmitter's JWKS URL
// (never from the token), typ secevent+jwt, an asymmetric algorithm, and
// the claims every SET must have (iss, aud, jti, iat, one event). A push
// that fails a check is answered 400 with the RFC 8935 error and not
// logged.
package setreceiver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// Received is one push the receiver verified.
type Received struct {
	Path          string
	Authorization string
	Header        map[string]any // the JOSE header: alg, kid, typ
	Claims        map[string]any
}

// Answer is what the receiver answers on a path after verifying a push;
// a zero Status is 202 Accepted.
type Answer struct {
	Status   int
	Body     string
	Location string
}

// Receiver is a running receiver; Issuer and Audience are what it
// expects (Audience defaults to its own URL).
type Receiver struct {
	*httptest.Server
	JWKSURL  string
	Issuer   string
	Audience string

	mu      sync.Mutex
	got     []Received
	hits    map[string]int
	answers map[string][]Answer
}

// Start runs a receiver that verifies SETs of issuer with the keys at
// jwksURL.
func Start(t testing.TB, jwksURL, issuer string) *Receiver {
	t.Helper()
	r := &Receiver{JWKSURL: jwksURL, Issuer: issuer, hits: map[string]int{}, answers: map[string][]Answer{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.Audience = r.URL
	t.Cleanup(r.Close)
	return r
}

// Answer sets the answers of path, in turn; the last one stays.
func (r *Receiver) Answer(path string, as ...Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[path] = as
}

// Log is every push verified so far.
func (r *Receiver) Log() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

// Hits counts the requests to path, verified or not.
func (r *Receiver) Hits(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *Receiver) fail(w http.ResponseWriter, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": fmt.Sprintf(format, args...)})
}

// algorithms are the ones a receiver accepts: asymmetric only.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.hits[req.URL.Path]++
	var a *Answer
	if as := r.answers[req.URL.Path]; len(as) > 0 {
		a = &as[0]
		if len(as) > 1 {
			r.answers[req.URL.Path] = as[1:]
		}
	}
	iss, aud := r.Issuer, r.Audience
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/secevent+jwt" || req.Header.Get("Accept") != "application/json" {
		r.fail(w, "invalid_request", "want a POST of application/secevent+jwt accepting application/json, got %s %q %q",
			req.Method, req.Header.Get("Content-Type"), req.Header.Get("Accept"))
		return
	}
	body, _ := io.ReadAll(req.Body)
	jws, err := jose.ParseSigned(string(body), algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		r.fail(w, "invalid_request", "not a JWS with one signature: %v", err)
		return
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" {
		r.fail(w, "invalid_request", "typ %v", h.ExtraHeaders[jose.HeaderType])
		return
	}
	resp, err := http.Get(r.JWKSURL)
	if err != nil {
		r.fail(w, "invalid_key", "fetching the JWKS: %v", err)
		return
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	keys := set.Key(h.KeyID)
	if err != nil || len(keys) != 1 {
		r.fail(w, "invalid_key", "kid %q is not in the JWKS (%v)", h.KeyID, err)
		return
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		r.fail(w, "invalid_key", "signature: %v", err)
		return
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		r.fail(w, "invalid_request", "claims: %v", err)
		return
	}
	switch {
	case claims["iss"] != iss:
		r.fail(w, "invalid_issuer", "iss %v", claims["iss"])
		return
	case claims["aud"] != aud:
		r.fail(w, "invalid_audience", "aud %v", claims["aud"])
		return
	case claims["jti"] == nil || claims["iat"] == nil:
		r.fail(w, "invalid_request", "no jti or iat")
		return
	}
	if evs, _ := claims["events"].(map[string]any); len(evs) != 1 {
		r.fail(w, "invalid_request", "events %v", claims["events"])
		return
	}
	hdr := map[string]any{"alg": h.Algorithm, "kid": h.KeyID, "typ": h.ExtraHeaders[jose.HeaderType]}
	r.mu.Lock()
	r.got = append(r.got, Received{Path: req.URL.Path, Authorization: req.Header.Get("Authorization"), Header: hdr, Claims: claims})
	r.mu.Unlock()
	if a != nil && a.Status != 0 {
		if a.Location != "" {
			w.Header().Set("Location", a.Location)
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
