package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/upstream"
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
	PAREndpoint           string `json:"pushed_authorization_request_endpoint"`
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
	case "authorization_endpoint":
		return d.AuthorizationEndpoint
	case "pushed_authorization_request_endpoint":
		return d.PAREndpoint
	}
	return ""
}

// Upstream is the OIDC provider as idphooks itself sees it: its discovery
// document and its signing keys, fetched directly from the upstream URL
// (not through Caddy) and cached.
type Upstream struct {
	URL    string
	Client *upstream.Client
	disc   upstream.Document[*Discovery]
	Keys   *KeySet
	// ended are the IdP's sessions whose logout raised after_logout:
	// kept with the upstream, which a config reload keeps, so that a
	// reload does not let every logout be replayed once more.
	ended *endedSessions
}

// NewUpstream returns an Upstream for the issuer URL u, reading at most
// maxBody bytes of its documents (1 MiB when zero).
func NewUpstream(u string, maxBody int64) *Upstream {
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	base := trimSlash(u)
	up := &Upstream{URL: base, Client: upstream.NewClient(base, maxBody), ended: newEndedSessions(maxEndedSessions)}
	up.disc.Fetch = up.fetchDiscovery
	up.Keys = newKeySet(up)
	return up
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// IsOwnFetch reports whether r is one of idphooks' own fetches in flight,
// and removes the marker so the IdP never sees it.
func (u *Upstream) IsOwnFetch(r *http.Request) bool { return u.Client.IsOwnFetch(r) }

// Discovery returns the discovery document, fetching it when absent or
// stale; a stale one is used while a refetch fails.
func (u *Upstream) Discovery(ctx context.Context) (*Discovery, error) { return u.disc.Get(ctx) }

// Cached returns the discovery document in hand, fresh or not, or nil.
func (u *Upstream) Cached() *Discovery {
	d, _ := u.disc.Cached()
	return d
}

// Invalidate makes the next use fetch discovery and keys again, keeping the
// current ones as the fallback should the fetch fail. A config reload calls
// it: the IdP may have moved (a new hostname, a new issuer) since.
func (u *Upstream) Invalidate() {
	u.disc.Invalidate()
	u.Keys.doc.Invalidate()
}

// SetRetryAfter sets the first wait after a failed fetch of discovery
// and keys (negative: none; tests).
func (u *Upstream) SetRetryAfter(d time.Duration) {
	u.disc.RetryAfter = d
	u.Keys.doc.RetryAfter = d
}

// What a broken upstream costs, said after each finding of Check.
const (
	discoveryDownEffect = "Until this is fixed, every request through idp_hooks is answered 502."
	keysDownEffect      = "Until this is fixed, token requests that hooks apply to are answered 502."
)

// Check fetches the discovery document and the key set through the caches
// requests use, so a good answer is kept and the first request does not
// fetch again, and reports what is wrong in words for whoever runs Caddy:
// a down or misconfigured IdP would otherwise show only as a 502 on the
// first request. It returns when ctx ends; a fetch still running goes on
// in the background (bounded by upstream.FetchTimeout) and is cached.
func (u *Upstream) Check(ctx context.Context) error {
	start := time.Now()
	d, err := await(ctx, u.disc.Get)
	if err != nil {
		return u.checkFailed(ctx, start, "discovery", u.URL+"/.well-known/openid-configuration", err, discoveryDownEffect)
	}
	if err := u.disc.LastError(); err != nil {
		// Get served the copy in hand (a reload Invalidates first).
		return fmt.Errorf("idp_hooks: upstream %s: %w Meanwhile idphooks uses the discovery document it fetched earlier.", u.URL, err)
	}
	at := u.JWKSURL(d)
	set, err := await(ctx, u.Keys.doc.Get)
	if err != nil {
		return u.checkFailed(ctx, start, "keys", at, err, keysDownEffect)
	}
	if err := u.Keys.doc.LastError(); err != nil {
		return fmt.Errorf("idp_hooks: upstream %s: %w Meanwhile idphooks uses the keys it fetched earlier.", u.URL, err)
	}
	if len(set.verify) == 0 {
		// Not refused when fetched: an IdP may publish an empty set for a
		// moment while it rotates. Here it is worth a word.
		why := errors.New("the key set holds no public key")
		if n := len(set.publish); n > 0 {
			why = fmt.Errorf("none of its %d public keys verifies signatures (all for encryption, or of a type idphooks does not read)", n)
		}
		err := &docError{doc: "keys", url: at, err: why, hint: "does the IdP have an active signing key?"}
		return fmt.Errorf("idp_hooks: upstream %s: %w %s", u.URL, err, keysDownEffect)
	}
	return nil
}

// checkFailed words a failed Check; a ctx that ended first means the IdP
// did not answer in the time the caller could wait.
func (u *Upstream) checkFailed(ctx context.Context, start time.Time, doc, at string, err error, effect string) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		why := fmt.Errorf("no answer within %v", time.Since(start).Round(100*time.Millisecond))
		if !errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Errorf("check stopped after %v: %w", time.Since(start).Round(100*time.Millisecond), err)
		}
		err = &docError{doc: doc, url: at, err: why,
			hint: "is the IdP up, and does no firewall drop Caddy's connections to it? idphooks keeps trying in the background."}
	}
	return fmt.Errorf("idp_hooks: upstream %s: %w %s", u.URL, err, effect)
}

// await is get, but stops waiting when ctx ends. The caches detach their
// fetch from the caller's context (one fetch serves every waiter, and the
// first to hang up must not fail the others), so ctx alone cannot bound it.
func await[T any](ctx context.Context, get func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // the fetch may end after nobody waits
	go func() {
		v, err := get(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // both ready: the answer is worth more
			return r.v, r.err
		default:
		}
		var zero T
		return zero, ctx.Err()
	}
}

func (u *Upstream) fetchDiscovery(ctx context.Context) (*Discovery, error) {
	at := u.URL + "/.well-known/openid-configuration"
	fail := func(err error, hint string) error { return &docError{doc: "discovery", url: at, err: err, hint: hint} }
	body, err := u.Client.Get(ctx, at, "application/json")
	if err != nil {
		return nil, fail(err, u.fetchHint(err, discoveryStatusHint))
	}
	if err := objectStart(body); err != nil {
		return nil, fail(err, "is upstream the IdP's issuer URL (Keycloak: http://host:8080/realms/<realm>), not a web page or a proxy answering in its place?")
	}
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fail(fmt.Errorf("malformed JSON: %w", err), "is upstream the IdP's issuer URL?")
	}
	var missing []string
	for _, m := range []struct{ name, v string }{{"issuer", d.Issuer}, {"jwks_uri", d.JWKSURI}, {"token_endpoint", d.TokenEndpoint}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	switch {
	case len(missing) == 1 && missing[0] == "jwks_uri":
		return nil, fail(errors.New("no jwks_uri: idphooks cannot verify the IdP's tokens without its keys"),
			"is the IdP an OpenID Connect provider (a plain OAuth 2 server publishes no keys)?")
	case len(missing) > 0:
		return nil, fail(fmt.Errorf("no %s (idphooks needs issuer, jwks_uri and token_endpoint)", strings.Join(missing, ", ")),
			"is this an OpenID Connect provider's discovery document?")
	}
	for _, s := range []string{d.JWKSURI, d.TokenEndpoint} {
		if err := upstream.CheckAbsolute(s); err != nil {
			return nil, fail(err, "is the IdP configured with its full public URL?")
		}
	}
	d.issuerOrigin = interception.OriginOf(d.Issuer)
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
		o = interception.OriginOf(d.Issuer)
	}
	if o != "" && public != "" && o != public {
		iss = append(iss, public+d.Issuer[len(o):])
	}
	return iss
}

// JWKSURL is where idphooks fetches the upstream's keys. An IdP behind
// Caddy publishes its jwks_uri on the public origin (its issuer's); fetched
// from there, the request would come back through idphooks. When the
// jwks_uri shares the issuer's origin but the upstream URL has another, the
// keys are fetched from the upstream's origin instead: the IdP serves the
// same path on both. A jwks_uri on a host of its own is used as it is.
func (u *Upstream) JWKSURL(d *Discovery) string {
	jwks, iss, up := interception.OriginOf(d.JWKSURI), interception.OriginOf(d.Issuer), interception.OriginOf(u.URL)
	if jwks == "" || jwks != iss || iss == up || up == "" {
		return d.JWKSURI
	}
	return up + d.JWKSURI[len(jwks):]
}
