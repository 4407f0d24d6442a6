package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
}

// NewUpstream returns an Upstream for the issuer URL u, reading at most
// maxBody bytes of its documents (1 MiB when zero).
func NewUpstream(u string, maxBody int64) *Upstream {
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	base := trimSlash(u)
	up := &Upstream{URL: base, Client: upstream.NewClient(base, maxBody)}
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

func (u *Upstream) fetchDiscovery(ctx context.Context) (*Discovery, error) {
	body, err := u.Client.Get(ctx, u.URL+"/.well-known/openid-configuration", "application/json")
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
		if err := upstream.CheckAbsolute(s); err != nil {
			return nil, fmt.Errorf("upstream discovery: %w", err)
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
