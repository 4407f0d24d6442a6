package secevent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/idphooks/idphooks/keys"
)

// A transmitter for the tests: idphooks' real key manager, its public
// set served at a loopback JWKS URL as idphooks publishes it.
type transmitter struct {
	keys    *keys.Manager
	jwksURL string
}

func newTransmitter(t *testing.T, alg string) *transmitter {
	t.Helper()
	km, err := keys.New(context.Background(), keys.NewMemoryStorage(), keys.Config{Algorithm: alg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(km.PublicJWKS())
	}))
	t.Cleanup(srv.Close)
	return &transmitter{keys: km, jwksURL: srv.URL}
}

// received is one push the receiver verified.
type received struct {
	Path          string
	Authorization string
	Header        map[string]any // the JOSE header
	Claims        map[string]any
}

// answer is what the receiver answers on a path.
type answer struct {
	status   int
	body     string
	location string
}

// setReceiver is an RFC 8935 push receiver that checks every push the
// way a real one does, with an independent JOSE library (go-jose): the
// media types, the signature against the keys it fetches from the
// transmitter's JWKS URL (never from the token), typ secevent+jwt, an
// asymmetric algorithm, and the claims every SET must have. A push that
// fails a check is answered 400 with the RFC 8935 error and not logged.
type setReceiver struct {
	*httptest.Server
	jwksURL  string
	audience string
	issuer   string

	mu      sync.Mutex
	got     []received
	hits    map[string]int
	answers map[string][]answer // per path, in turn; the last one stays
}

func newSETReceiver(t *testing.T, jwksURL, issuer string) *setReceiver {
	t.Helper()
	r := &setReceiver{jwksURL: jwksURL, issuer: issuer, hits: map[string]int{}, answers: map[string][]answer{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	r.audience = r.URL
	t.Cleanup(r.Close)
	return r
}

// answer sets the answers of path, in turn.
func (r *setReceiver) answer(path string, as ...answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[path] = as
}

func (r *setReceiver) log() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *setReceiver) hitsOf(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits[path]
}

func (r *setReceiver) fail(w http.ResponseWriter, code, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": fmt.Sprintf(format, args...)})
}

func (r *setReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.hits[req.URL.Path]++
	var a *answer
	if as := r.answers[req.URL.Path]; len(as) > 0 {
		a = &as[0]
		if len(as) > 1 {
			r.answers[req.URL.Path] = as[1:]
		}
	}
	r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/secevent+jwt" || req.Header.Get("Accept") != "application/json" {
		r.fail(w, "invalid_request", "want a POST of application/secevent+jwt accepting application/json, got %s %q %q",
			req.Method, req.Header.Get("Content-Type"), req.Header.Get("Accept"))
		return
	}
	body, _ := io.ReadAll(req.Body)
	jws, err := jose.ParseSigned(string(body), []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		r.fail(w, "invalid_request", "not a JWS with one signature: %v", err)
		return
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" {
		r.fail(w, "invalid_request", "typ %v", h.ExtraHeaders[jose.HeaderType])
		return
	}
	resp, err := http.Get(r.jwksURL)
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
	case claims["iss"] != r.issuer:
		r.fail(w, "invalid_issuer", "iss %v", claims["iss"])
		return
	case claims["aud"] != r.audience:
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
	r.got = append(r.got, received{Path: req.URL.Path, Authorization: req.Header.Get("Authorization"), Header: hdr, Claims: claims})
	r.mu.Unlock()
	if a != nil {
		if a.location != "" {
			w.Header().Set("Location", a.location)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
