package oidc

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// serveDiscovery passes the discovery request to the IdP and rewrites the
// document clients get: jwks_uri points at idphooks' key set, URLs on the
// upstream's origin move to the public origin, the issuer follows config,
// and the algorithm lists name what idphooks signs with.
func (i *Interceptor) serveDiscovery(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method == http.MethodHead {
		return next.ServeHTTP(w, r)
	}
	c, body, err := i.readUpstream(w, r, next, "discovery document")
	if c == nil {
		return err
	}
	defer c.Release()
	doc, err := decodeObject(body)
	if err != nil {
		return i.badGateway(w, c, "discovery document is not a JSON object", err)
	}
	d, err := i.up.Discovery(r.Context())
	if err != nil {
		return i.badGateway(w, c, "upstream discovery unavailable", err)
	}
	i.rewriteDiscovery(doc, d, interception.PublicOrigin(r))
	out, err := json.Marshal(doc)
	if err != nil {
		return i.badGateway(w, c, "discovery document could not be encoded", err)
	}
	c.WriteBody("application/json", out)
	return nil
}

func (i *Interceptor) rewriteDiscovery(doc map[string]any, d *Discovery, public string) {
	upstreamOrigins := map[string]bool{}
	for _, u := range []string{i.up.URL, d.Issuer, d.TokenEndpoint, d.JWKSURI} {
		if o := interception.OriginOf(u); o != "" && o != public {
			upstreamOrigins[o] = true
		}
	}
	issuer, _ := doc["issuer"].(string)
	for k, v := range doc {
		if k == "issuer" {
			continue
		}
		doc[k] = moveOrigin(v, upstreamOrigins, public)
	}
	doc["jwks_uri"] = public + i.cfg.JWKSPath
	if i.rewritesIssuer(d) {
		issuer = i.cfg.Issuer
		doc["issuer"] = issuer
	}
	ours := i.cfg.Signer.Algorithm()
	if i.cfg.PublishUpstreamKeys {
		doc["id_token_signing_alg_values_supported"] = addAlg(doc["id_token_signing_alg_values_supported"], ours)
	} else {
		doc["id_token_signing_alg_values_supported"] = []any{ours}
	}
	if _, ok := doc["userinfo_signing_alg_values_supported"]; ok {
		doc["userinfo_signing_alg_values_supported"] = addAlg(doc["userinfo_signing_alg_values_supported"], ours)
	}
	// Front-channel tokens never pass the token endpoint, so idphooks
	// cannot rewrite them: when clients would not be able to verify them
	// (upstream keys unpublished, issuer rewritten), the response types
	// with ID tokens go; while before_token hooks exist, every type that
	// hands out a token does (checkFrontChannel refuses them).
	noIDTokens := !i.cfg.PublishUpstreamKeys || i.rewritesIssuer(d)
	noTokens := i.frontChannelClosed()
	if rts, ok := doc["response_types_supported"].([]any); ok && (noIDTokens || noTokens) {
		kept := rts[:0:0]
		for _, rt := range rts {
			s, _ := rt.(string)
			drop := false
			for _, t := range strings.Fields(s) {
				drop = drop || (t == "id_token" && (noIDTokens || noTokens)) || (t == "token" && noTokens)
			}
			if !drop {
				kept = append(kept, rt)
			}
		}
		doc["response_types_supported"] = kept
	}
	i.log.Debug("discovery rewritten", zap.String("issuer", issuer), zap.String("public_origin", public))
}

// moveOrigin replaces an upstream origin at the start of URL strings,
// recursing into objects such as mtls_endpoint_aliases.
func moveOrigin(v any, from map[string]bool, to string) any {
	switch t := v.(type) {
	case string:
		for o := range from {
			if t == o || strings.HasPrefix(t, o+"/") {
				return to + t[len(o):]
			}
		}
		return t
	case map[string]any:
		for k, x := range t {
			t[k] = moveOrigin(x, from, to)
		}
		return t
	default:
		return v
	}
}

func addAlg(v any, alg string) []any {
	list, _ := v.([]any)
	for _, a := range list {
		if a == alg {
			return list
		}
	}
	return append([]any{alg}, list...)
}
