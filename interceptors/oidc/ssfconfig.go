package oidc

import (
	"encoding/json"
	"net/http"

	"github.com/idphooks/idphooks/interception"
)

// ssfPush is RFC 8935 push delivery's method URI in SSF metadata.
const ssfPush = "urn:ietf:rfc:8935"

// serveSSFConfiguration answers the Shared Signals transmitter metadata
// (SSF 1.0 §7.1) itself: idphooks is the transmitter of the Security
// Event Tokens it pushes, whatever the IdP transmits on its own. The
// issuer is the SETs' iss (the issuer clients see) and jwks_uri is
// idphooks' key set, which signs them. idphooks pushes to configured
// receivers: no stream management endpoints are listed, so receivers do
// not try to create streams.
func (i *Interceptor) serveSSFConfiguration(w http.ResponseWriter, r *http.Request, d *Discovery) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		interception.WriteError(w, http.StatusMethodNotAllowed, "invalid_request", "the transmitter metadata is read with GET")
		return nil
	}
	issuer := d.Issuer
	if i.rewritesIssuer(d) {
		issuer = i.cfg.Issuer
	}
	origin, fromRequest := i.ssfJWKSOrigin(r, issuer)
	out, err := json.Marshal(map[string]any{
		"spec_version":               "1_0",
		"issuer":                     issuer,
		"jwks_uri":                   origin + i.cfg.JWKSPath,
		"delivery_methods_supported": []string{ssfPush},
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if fromRequest {
		// The key set named is the request's (X-Forwarded-Host from a
		// trusted proxy that passes on a client's, say): no shared cache
		// may keep it for the others, and many key on the Host alone,
		// Vary or not.
		w.Header().Set("Cache-Control", "private, max-age=300")
		w.Header().Set("Vary", "X-Forwarded-Host, X-Forwarded-Proto")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	_, err = w.Write(out)
	return err
}

// ssfJWKSOrigin is the origin of the key set the metadata names: the
// issuer's, which idphooks serves, so that no request input (a Host
// header, or X-Forwarded-Host from a trusted proxy that passes on a
// client's) can make this cacheable document bind the SETs' issuer to
// someone else's keys. An issuer on the upstream's own origin (the IdP's
// issuer as idphooks reaches it, no public one configured) is not served
// by idphooks: the request's public origin is then all there is, as for
// discovery's jwks_uri; fromRequest says so.
func (i *Interceptor) ssfJWKSOrigin(r *http.Request, issuer string) (origin string, fromRequest bool) {
	if o := interception.OriginOf(issuer); o != "" && o != interception.OriginOf(i.up.URL) {
		return o, false
	}
	return interception.PublicOrigin(r), true
}
