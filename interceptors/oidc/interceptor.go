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
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
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
	// Put stores each write's value for its token until its expiry, all
	// of them at once (one round trip to a shared store): a token answer
	// files its access and ID tokens together. Values are only lent: the
	// caller reuses their bytes once Put returns, so an implementation
	// keeps a copy (a sealed one, say), never the slices themselves. An
	// error wrapping ErrSwapUnavailable says the store cannot write now.
	Put(ctx context.Context, writes ...SwapWrite) error
	// Get returns ErrSwapNotFound when nothing is stored for token, an
	// error wrapping ErrSwapUnavailable when the store cannot answer now
	// (the request is answered 503: passing the token on unswapped would
	// have the IdP refuse it, and the client drop a good grant), and any
	// other error for an entry that cannot be read (logged; the token is
	// then unknown).
	Get(ctx context.Context, token string) ([]byte, error)
}

// SwapWrite is one entry of Swaps.Put.
type SwapWrite struct {
	Token string
	Value []byte
	Exp   time.Time
}

// ErrSwapNotFound is what Swaps.Get returns for an unknown token.
var ErrSwapNotFound = errors.New("swap entry not found")

// ErrSwapUnavailable is wrapped by Swaps errors while the store cannot
// serve (a full disk, a shared store that is away). The store logs such
// an episode once; the interceptor does not log each request it fails.
var ErrSwapUnavailable = errors.New("swap store unavailable")

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

	// SharedSignals serves the Shared Signals transmitter metadata
	// (ssfconfig.go): idphooks pushes Security Event Tokens signed with
	// its keys, and receivers discover those keys there.
	SharedSignals bool

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
	policy events.ClaimPolicy
	log    *zap.Logger
	ended  *endedSessions // logouts that raised after_logout (endedsessions.go)

	outages outages
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
		cfg.RequestHeaders = interception.DefaultRequestHeaders
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	i := &Interceptor{cfg: cfg, up: cfg.Upstream, policy: events.NewClaimPolicy(cfg.UnlockedClaims), log: cfg.Logger,
		ended: cfg.Upstream.ended}
	if i.ended == nil {
		i.ended = newEndedSessions(maxEndedSessions)
	}
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

// Raises lists the lifecycle events this interceptor raises (see
// tokenevent.go, userinfo.go, afterlogin.go and logout.go), so that hooks configured on an event
// nobody raises can be reported at provision: they would never run. The
// list depends on no config, so a nil *Interceptor answers too (the CLI
// asks one).
func (i *Interceptor) Raises() []string {
	return []string{events.BeforeToken, events.AfterTokenRefresh, events.BeforeUserinfo, events.AfterLogin, events.AfterLogout}
}

// ServeHTTP handles one request on its way to the IdP.
func (i *Interceptor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return interception.Respond(w, i.serve(w, r, next))
}

func (i *Interceptor) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if i.up.IsOwnFetch(r) && i.ownFetchPassable(r) {
		return next.ServeHTTP(w, r)
	}
	d, err := i.up.Discovery(r.Context())
	if err != nil {
		// Fail closed: without discovery idphooks cannot tell a token
		// response from any other, and hooks that deny must not be bypassed.
		return i.badGateway(w, nil, "upstream discovery unavailable", err)
	}
	i.outageOver("discovery")
	switch i.classify(d, r.URL.Path) {
	case epDiscovery:
		return i.serveDiscovery(w, r, next)
	case epSSFConfiguration:
		return i.serveSSFConfiguration(w, r, d)
	case epJWKS:
		return i.serveJWKS(w, r, next)
	case epToken:
		return i.serveToken(w, r, next, d)
	case epUserinfo:
		return i.serveUserinfo(w, r, next, d)
	case epIntrospection:
		return i.serveIntrospection(w, r, next, d)
	case epRevocation:
		if _, err := i.swapQueryAndForm(r, "token"); err != nil {
			return err
		}
	case epAuthorization, epPAR:
		if err := i.checkFrontChannel(r); err != nil {
			return err
		}
	case epOther:
		// Keycloak serves the whole authorization request at more paths
		// than discovery names (registrations, forgot-credentials): any
		// query asking for a response type is checked.
		if r.URL.RawQuery != "" {
			if err := i.checkFrontChannelQuery(r); err != nil {
				return err
			}
		}
	case epEndSession:
		params, err := i.swapQueryAndForm(r, "id_token_hint")
		if err != nil {
			return err
		}
		if ev := i.logoutEvent(r, params.Get("id_token_hint")); ev != nil {
			next = i.raisingLogout(next, ev)
		}
	}
	if err := i.swapBearer(r); err != nil {
		return err
	}
	if i.rewritesIssuer(d) {
		return i.serveRewritingIss(w, r, next, d)
	}
	return next.ServeHTTP(w, r)
}

// ownFetchPassable limits what idphooks' own fetches may skip it for to
// what they are: GETs of the discovery document or the key set, public
// data. A marker seen while its fetch runs opens nothing else.
func (i *Interceptor) ownFetchPassable(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p := interception.NormalizePath(r.URL.Path)
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

// eventRequest is the request as hooks may see it.
func (i *Interceptor) eventRequest(r *http.Request) events.Request {
	return interception.EventRequest(r, i.cfg.RequestHeaders)
}
