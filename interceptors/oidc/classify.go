package oidc

import (
	"strings"

	"github.com/idphooks/idphooks/interception"
)

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
	epAuthorization
	epPAR
	epSSFConfiguration
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
	return idx.paths[interception.NormalizePath(p)]
}

// buildIndex maps each endpoint's path (and its mTLS alias) to its kind.
// The token endpoint wins over others sharing its path.
func (i *Interceptor) buildIndex(d *Discovery) *pathIndex {
	idx := &pathIndex{d: d, paths: map[string]endpoint{}}
	add := func(u string, e endpoint) {
		if u == "" {
			return
		}
		p := interception.NormalizePath(interception.PathOf(u))
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
		{"authorization_endpoint", epAuthorization},
		{"pushed_authorization_request_endpoint", epPAR},
	} {
		add(d.endpoint(ep.key), ep.e)
		add(d.MTLSEndpointAliases[ep.key], ep.e)
	}
	add(i.cfg.JWKSPath, epJWKS)
	add(d.JWKSURI, epJWKS)
	for _, base := range []string{interception.PathOf(d.Issuer), interception.PathOf(i.up.URL), interception.PathOf(i.cfg.Issuer)} {
		base = strings.TrimRight(base, "/")
		add(base+"/.well-known/openid-configuration", epDiscovery)
		add(base+"/.well-known/oauth-authorization-server", epDiscovery)
		add("/.well-known/oauth-authorization-server"+base, epDiscovery)
		if i.cfg.SharedSignals {
			// SSF §7.2 inserts the well-known path before the issuer's
			// path; receivers that append it as for OIDC find it too.
			add("/.well-known/ssf-configuration"+base, epSSFConfiguration)
			add(base+"/.well-known/ssf-configuration", epSSFConfiguration)
		}
	}
	return idx
}
