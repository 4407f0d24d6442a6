package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Discovery is the part of the upstream's discovery document idphooks needs
// to classify traffic and verify tokens. The full document is kept raw for
// rewriting.
type Discovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`
	// MTLSEndpointAliases (RFC 8705) are the same endpoints for clients
	// using mutual TLS; requests there are intercepted alike.
	MTLSEndpointAliases map[string]string `json:"mtls_endpoint_aliases"`

	// issuerOrigin is Issuer's scheme://host, parsed once per fetch.
	issuerOrigin string
}

// endpoint returns an endpoint URL by its discovery name.
func (d *Discovery) endpoint(name string) string {
	switch name {
	case "token_endpoint":
		return d.TokenEndpoint
	case "userinfo_endpoint":
		return d.UserinfoEndpoint
	case "introspection_endpoint":
		return d.IntrospectionEndpoint
	case "revocation_endpoint":
		return d.RevocationEndpoint
	case "end_session_endpoint":
		return d.EndSessionEndpoint
	}
	return ""
}

// Upstream is the IdP as idphooks itself sees it: its discovery document and
// its signing keys, fetched directly from the upstream URL (not through
// Caddy) and cached.
type Upstream struct {
	URL    string
	Client *http.Client

	// DiscoveryTTL is how long a fetched discovery document is used before
	// it is fetched again; RetryAfter how long a failure is remembered so a
	// down IdP is not hammered.
	DiscoveryTTL time.Duration
	RetryAfter   time.Duration

	// MaxBody caps what is read from the upstream.
	MaxBody int64

	// state is swapped whole, never changed in place: every request
	// reads it, and a lock there would be shared by all cores.
	state atomic.Pointer[discState]

	group singleflight.Group
	Keys  *KeySet

	// marker identifies idphooks' own fetches when they come back through
	// Caddy (an upstream URL or jwks_uri on the public origin): the
	// interceptor passes such requests straight to the IdP instead of
	// waiting on the very fetch that sent them. Random per process, so a
	// client cannot use it to skip the interceptor.
	marker string
}

// internalHeader carries Upstream.marker.
const internalHeader = "X-Idphooks-Internal"

// IsOwnFetch reports whether r is one of this upstream's own fetches, and
// removes the marker so the IdP never sees it.
func (u *Upstream) IsOwnFetch(r *http.Request) bool {
	// Indexed directly: the name is canonical, as Go's server stores
	// it, and Get would canonicalise it again on every request.
	vs := r.Header[internalHeader]
	if len(vs) == 0 {
		return false
	}
	v := vs[0]
	delete(r.Header, internalHeader)
	return subtle.ConstantTimeCompare([]byte(v), []byte(u.marker)) == 1
}

// fetchTimeout bounds one fetch of discovery or keys.
const fetchTimeout = 10 * time.Second

// NewUpstream returns an Upstream for the issuer URL u.
func NewUpstream(u string, client *http.Client) *Upstream {
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// The marker stays with the first hop.
			req.Header.Del(internalHeader)
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			return nil
		}}
	}
	var m [16]byte
	_, _ = rand.Read(m[:])
	up := &Upstream{
		URL: strings.TrimRight(u, "/"), Client: client,
		DiscoveryTTL: time.Hour, RetryAfter: 2 * time.Second, MaxBody: 1 << 20,
		marker: hex.EncodeToString(m[:]),
	}
	up.Keys = &KeySet{up: up, MinRefresh: 10 * time.Second}
	return up
}

// Discovery returns the cached discovery document, fetching it when absent
// or stale. Concurrent fetches collapse into one.
func (u *Upstream) Discovery(ctx context.Context) (*Discovery, error) {
	st := u.state.Load()
	var d *Discovery
	if st != nil {
		d = st.disc
		if d != nil && time.Since(st.fetched) < u.DiscoveryTTL {
			return d, nil
		}
		if d == nil && st.err != nil && time.Since(st.errAt) < u.RetryAfter {
			return nil, st.err
		}
	}
	v, err, _ := u.group.Do("discovery", func() (any, error) {
		// The fetch serves every waiter: the first caller hanging up must
		// not fail the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		nd, err := u.fetchDiscovery(fctx)
		if err != nil {
			// The document in hand, if any, stays the fallback.
			u.update(func(st *discState) { st.err, st.errAt = err, time.Now() })
			return nil, err
		}
		u.update(func(st *discState) { *st = discState{disc: nd, fetched: time.Now()} })
		return nd, nil
	})
	if err != nil {
		if d != nil {
			// A stale document beats none: the IdP's endpoints rarely move.
			return d, nil
		}
		return nil, err
	}
	return v.(*Discovery), nil
}

func (u *Upstream) fetchDiscovery(ctx context.Context) (*Discovery, error) {
	body, err := u.get(ctx, u.URL+"/.well-known/openid-configuration")
	if err != nil {
		return nil, fmt.Errorf("upstream discovery: %w", err)
	}
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("upstream discovery: malformed JSON: %w", err)
	}
	if d.Issuer == "" || d.JWKSURI == "" || d.TokenEndpoint == "" {
		return nil, errors.New("upstream discovery: issuer, jwks_uri and token_endpoint are required")
	}
	for _, s := range []string{d.JWKSURI, d.TokenEndpoint} {
		if pu, err := url.Parse(s); err != nil || pu.Host == "" {
			return nil, fmt.Errorf("upstream discovery: %q is not an absolute URL", s)
		}
	}
	d.issuerOrigin = originOf(d.Issuer)
	return &d, nil
}

// acceptedIssuers are the issuers upstream tokens may carry: the one
// discovery gave idphooks, and the same on the public origin. IdPs that
// derive their issuer from the request's host (Keycloak without a fixed
// hostname, behind Caddy's X-Forwarded-Host) name the public origin in
// tokens issued through Caddy, the upstream's in discovery fetched
// directly. The signature is what proves the token is the IdP's.
func (d *Discovery) acceptedIssuers(public string) []string {
	iss := []string{d.Issuer}
	o := d.issuerOrigin
	if o == "" {
		o = originOf(d.Issuer)
	}
	if o != "" && public != "" && o != public {
		iss = append(iss, public+d.Issuer[len(o):])
	}
	return iss
}

// Cached returns the discovery document in hand, fresh or not, or nil.
func (u *Upstream) Cached() *Discovery {
	if st := u.state.Load(); st != nil {
		return st.disc
	}
	return nil
}

// discState is what Upstream knows of discovery at one moment.
type discState struct {
	disc    *Discovery
	fetched time.Time
	err     error // the last failed fetch, and when
	errAt   time.Time
}

// update replaces the state with a changed copy of it.
func (u *Upstream) update(change func(*discState)) {
	for {
		old := u.state.Load()
		next := new(discState)
		if old != nil {
			*next = *old
		}
		change(next)
		if u.state.CompareAndSwap(old, next) {
			return
		}
	}
}

// Invalidate makes the next use fetch discovery again, keeping the current
// document as the fallback should the fetch fail. A config reload calls it:
// the IdP may have moved (a new hostname, a new issuer) since.
func (u *Upstream) Invalidate() {
	u.update(func(st *discState) { st.fetched = time.Time{} })
}

// JWKSURL is where idphooks fetches the upstream's keys. An IdP behind
// Caddy publishes its jwks_uri on the public origin (its issuer's); fetched
// from there, the request would come back through idphooks. When the
// jwks_uri shares the issuer's origin but the upstream URL has another, the
// keys are fetched from the upstream's origin instead: the IdP serves the
// same path on both. A jwks_uri on a host of its own is used as it is.
func (u *Upstream) JWKSURL(d *Discovery) string {
	jwks, iss, up := originOf(d.JWKSURI), originOf(d.Issuer), originOf(u.URL)
	if jwks == "" || jwks != iss || iss == up || up == "" {
		return d.JWKSURI
	}
	return up + d.JWKSURI[len(jwks):]
}

// get fetches a URL of the upstream with a size cap; non-200 is an error.
func (u *Upstream) get(ctx context.Context, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(internalHeader, u.marker)
	resp, err := u.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", target, resp.StatusCode)
	}
	body, err := readCapped(resp.Body, u.MaxBody)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", target, err)
	}
	return body, nil
}

// errTooLarge is returned when a body exceeds its cap.
var errTooLarge = errors.New("body exceeds the size limit")

func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}
