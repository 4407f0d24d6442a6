// Package oidc intercepts an OpenID Connect provider's traffic: discovery,
// JWKS, token, userinfo, and the endpoints that take tokens back
// (introspection, revocation, end-session). It runs token hooks, re-signs
// what they changed with idphooks' keys, and swaps rewritten tokens back to
// the IdP's originals on their way in, so the IdP keeps working unchanged.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
)

// Signer is idphooks' own signing key set, as the interceptor needs it.
type Signer interface {
	// Sign signs claims with the active key. typ is the JOSE typ header
	// ("JWT", "at+jwt"); the returned alg is the one used.
	SignJWT(claims map[string]any, typ string) (token, alg string, err error)
	// Owns reports whether kid names one of idphooks' keys.
	Owns(kid string) bool
	// PublicKeys are the JWKs idphooks publishes (active, upcoming, retired).
	PublicKeyJSON() []json.RawMessage
	// Algorithm is the algorithm of new signatures.
	Algorithm() string
}

// Swaps remembers, per token idphooks issued, what to send back to the IdP.
// Keys are the tokens themselves; implementations must not store them in
// the clear.
type Swaps interface {
	// Put stores value for token until exp. value is only lent: the
	// caller reuses its bytes once Put returns, so an implementation
	// keeps a copy (a sealed one, say), never the slice itself.
	Put(ctx context.Context, token string, value []byte, exp time.Time) error
	// Get returns ErrSwapNotFound when nothing is stored for token.
	Get(ctx context.Context, token string) ([]byte, error)
}

// ErrSwapNotFound is what Swaps.Get returns for an unknown token.
var ErrSwapNotFound = errors.New("swap entry not found")

// Config is everything the interceptor needs, as plain values.
type Config struct {
	Upstream *Upstream

	// Issuer, when set and different from the upstream's, is the issuer
	// clients see: discovery, every token and the RFC 9207 iss parameter
	// are rewritten to it together.
	Issuer string

	// JWKSPath is where idphooks serves its key set.
	JWKSPath string

	// PublishUpstreamKeys adds the upstream's keys to the served JWKS so
	// tokens idphooks did not touch (front-channel ID tokens) still verify.
	PublishUpstreamKeys bool

	Algorithms     []string
	UnlockedClaims []string
	Leeway         time.Duration
	MaxBody        int64

	// IDTokenGrace keeps the swap of a rewritten ID token past its expiry,
	// since clients send expired ID tokens as id_token_hint at logout.
	IDTokenGrace time.Duration

	Dispatcher *events.Dispatcher
	Signer     Signer
	Swaps      Swaps
	Logger     *zap.Logger

	// RequestHeaders are the request headers hooks may see.
	RequestHeaders []string
}

// Interceptor is the OIDC interceptor. It is safe for concurrent use.
type Interceptor struct {
	index  atomic.Pointer[pathIndex]
	cfg    Config
	up     *Upstream
	verify *Verifier
	policy claimPolicy
	log    *zap.Logger
}

// New validates cfg and returns an Interceptor.
func New(cfg Config) (*Interceptor, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("oidc: upstream is required")
	}
	if cfg.Signer == nil || cfg.Swaps == nil {
		return nil, errors.New("oidc: signer and swap store are required")
	}
	if cfg.JWKSPath == "" {
		cfg.JWKSPath = "/.well-known/idphooks/jwks.json"
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	for _, a := range cfg.Algorithms {
		if strings.HasPrefix(a, "HS") || strings.EqualFold(a, "none") {
			return nil, errors.New("oidc: symmetric and 'none' algorithms cannot be allowed for upstream tokens")
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.IDTokenGrace == 0 {
		cfg.IDTokenGrace = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RequestHeaders == nil {
		cfg.RequestHeaders = []string{"Accept-Language", "Origin", "Referer"}
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	i := &Interceptor{cfg: cfg, up: cfg.Upstream, policy: newClaimPolicy(cfg.UnlockedClaims), log: cfg.Logger}
	i.verify = &Verifier{
		Keys:       cfg.Upstream.Keys,
		Algorithms: cfg.Algorithms,
		Leeway:     cfg.Leeway,
		Issuers: func(ctx context.Context, public string) ([]string, error) {
			d, err := cfg.Upstream.Discovery(ctx)
			if err != nil {
				return nil, err
			}
			return d.acceptedIssuers(public), nil
		},
	}
	return i, nil
}

// endpoint is what a request path is, for this interceptor.
type endpoint int

const (
	epOther endpoint = iota
	epDiscovery
	epJWKS
	epToken
	epUserinfo
	epIntrospection
	epRevocation
	epEndSession
)

// pathIndex maps the normalised endpoint paths of one discovery document
// to their kind. Each interceptor keeps its own: the document is shared by
// every handler on the same upstream, the paths depend on this one's config.
type pathIndex struct {
	d     *Discovery
	paths map[string]endpoint
}

func (i *Interceptor) classify(d *Discovery, p string) endpoint {
	idx := i.index.Load()
	if idx == nil || idx.d != d {
		idx = i.buildIndex(d)
		i.index.Store(idx)
	}
	return idx.paths[normalizePath(p)]
}

// buildIndex maps each endpoint's path (and its mTLS alias) to its kind.
// The token endpoint wins over others sharing its path.
func (i *Interceptor) buildIndex(d *Discovery) *pathIndex {
	idx := &pathIndex{d: d, paths: map[string]endpoint{}}
	add := func(u string, e endpoint) {
		if u == "" {
			return
		}
		p := normalizePath(pathOf(u))
		if _, taken := idx.paths[p]; !taken {
			idx.paths[p] = e
		}
	}
	for _, ep := range []struct {
		key string
		e   endpoint
	}{
		{"token_endpoint", epToken}, {"userinfo_endpoint", epUserinfo},
		{"introspection_endpoint", epIntrospection}, {"revocation_endpoint", epRevocation},
		{"end_session_endpoint", epEndSession},
	} {
		add(d.endpoint(ep.key), ep.e)
		add(d.MTLSEndpointAliases[ep.key], ep.e)
	}
	add(i.cfg.JWKSPath, epJWKS)
	add(d.JWKSURI, epJWKS)
	for _, base := range []string{pathOf(d.Issuer), pathOf(i.up.URL), pathOf(i.cfg.Issuer)} {
		base = strings.TrimRight(base, "/")
		add(base+"/.well-known/openid-configuration", epDiscovery)
		add(base+"/.well-known/oauth-authorization-server", epDiscovery)
		add("/.well-known/oauth-authorization-server"+base, epDiscovery)
	}
	return idx
}

// normalizePath folds the spellings of a path that IdP web frameworks
// treat alike — "/token/", "//token", "/a/../token", "/token;jsessionid=1"
// (JAX-RS matrix parameters, as Keycloak accepts) — so that none of them
// slips a token request past the hooks.
func normalizePath(p string) string {
	if strings.IndexByte(p, ';') >= 0 {
		segs := strings.Split(p, "/")
		for k, s := range segs {
			if j := strings.IndexByte(s, ';'); j >= 0 {
				segs[k] = s[:j]
			}
		}
		p = strings.Join(segs, "/")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	// Clean allocates only when it changes something: the usual clean
	// path passes for free.
	return path.Clean(p)
}

// ServeHTTP handles one request on its way to the IdP.
func (i *Interceptor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if i.up.IsOwnFetch(r) && i.ownFetchPassable(r) {
		return next.ServeHTTP(w, r)
	}
	d, err := i.up.Discovery(r.Context())
	if err != nil {
		// Fail closed: without discovery idphooks cannot tell a token
		// response from any other, and hooks that deny must not be bypassed.
		i.log.Error("upstream discovery unavailable; refusing traffic", zap.Error(err))
		return caddyhttp.Error(http.StatusBadGateway, errors.New("identity provider discovery unavailable"))
	}
	switch i.classify(d, r.URL.Path) {
	case epDiscovery:
		return i.serveDiscovery(w, r, next)
	case epJWKS:
		return i.serveJWKS(w, r, next)
	case epToken:
		return i.serveToken(w, r, next, d)
	case epUserinfo:
		return i.serveUserinfo(w, r, next)
	case epIntrospection, epRevocation:
		if err := i.swapForm(r, "token"); err != nil {
			return err
		}
	case epEndSession:
		if err := i.swapQuery(r, "id_token_hint"); err != nil {
			return err
		}
		if err := i.swapForm(r, "id_token_hint"); err != nil {
			return err
		}
	}
	i.swapBearer(r)
	if i.rewritesIssuer(d) {
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			// A form_post page must come uncompressed to be rewritten.
			r.Header.Set("Accept-Encoding", "identity")
		}
		iw := &issRewriter{ResponseWriter: w, from: d.acceptedIssuers(publicOrigin(r)), to: i.cfg.Issuer, limit: i.cfg.MaxBody}
		err := next.ServeHTTP(iw, r)
		iw.finish()
		return err
	}
	return next.ServeHTTP(w, r)
}

// ownFetchPassable limits what idphooks' own fetches may skip it for to
// what they are: GETs of the discovery document or the key set, public
// data. A marker that leaked (an IdP logging headers) opens nothing else.
func (i *Interceptor) ownFetchPassable(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := normalizePath(r.URL.Path)
	if strings.HasSuffix(p, "/.well-known/openid-configuration") || strings.Contains(p, "/.well-known/oauth-authorization-server") {
		return true
	}
	if d := i.up.Cached(); d != nil {
		return i.classify(d, p) == epJWKS
	}
	return false
}

// rewritesIssuer reports whether clients see another issuer than the IdP's.
func (i *Interceptor) rewritesIssuer(d *Discovery) bool {
	return i.cfg.Issuer != "" && i.cfg.Issuer != d.Issuer
}

// publicOrigin is the scheme and host the client used to reach idphooks.
// Behind a TLS-terminating load balancer that Caddy trusts (its
// trusted_proxies), the forwarded scheme and host are the public ones; from
// anyone else they are ignored.
func publicOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trustedProxy(r) {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

func trustedProxy(r *http.Request) bool {
	v, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	t, _ := v[caddyhttp.TrustedProxyVarKey].(bool)
	return t
}

// firstValue is the first of a comma-separated header's values.
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func pathOf(u string) string {
	if u == "" {
		return ""
	}
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	if pu.Path == "" {
		return "/"
	}
	return pu.Path
}

func originOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return ""
	}
	return pu.Scheme + "://" + pu.Host
}

// eventRequest is the request as hooks may see it: no cookies, no
// credentials, only allow-listed headers.
func (i *Interceptor) eventRequest(r *http.Request) events.Request {
	req := events.Request{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, UserAgent: r.UserAgent(),
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.IP = host
	} else {
		req.IP = r.RemoteAddr
	}
	if ip := clientIP(r); ip != "" {
		req.IP = ip
	}
	if id := requestID(r); id != "" {
		req.ID = id
	}
	for _, h := range i.cfg.RequestHeaders {
		if v := r.Header.Get(h); v != "" {
			if req.Headers == nil {
				req.Headers = make(map[string]string, len(i.cfg.RequestHeaders))
			}
			req.Headers[strings.ToLower(h)] = v
		}
	}
	return req
}

// clientIP is the client address Caddy determined (trusted proxies applied).
func clientIP(r *http.Request) string {
	if v, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		if ip, ok := v[caddyhttp.ClientIPVarKey].(string); ok {
			return ip
		}
	}
	return ""
}

// requestID is Caddy's id of the request ({http.request.uuid}), the one its
// access log shows, so hook log lines and access log lines can be joined.
func requestID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if id, ok := repl.GetString("http.request.uuid"); ok {
			return id
		}
	}
	return ""
}
