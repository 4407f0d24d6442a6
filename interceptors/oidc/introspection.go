package oidc

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// serveIntrospection swaps an access token idphooks rewrote back to the
// IdP's, and gives the IdP's answer, which describes that original token,
// the edits hooks made to the one the client holds: a resource server
// that introspects must not see a claim a hook removed (Keycloak answers
// with the token's own claims, oidc-provider with its extra claims).
func (i *Interceptor) serveIntrospection(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *Discovery) error {
	// The token may stand in the body, as RFC 7662 says, or in the query,
	// which an IdP may merge into its parameters: it is swapped where it
	// stands, once (Params refuses a second).
	query, form, err := interception.Params(r, i.cfg.MaxBody, "token")
	if err != nil {
		return err
	}
	if err := i.swapBearer(r); err != nil {
		return err
	}
	var entry *swapEntry
	tok, inQuery := form.Get("token"), false
	if tok == "" {
		tok, inQuery = query.Get("token"), true
	}
	if tok != "" && i.cfg.Signer.Owns(peekKid(tok)) {
		if entry, err = i.lookup(r.Context(), tok); err != nil {
			return err
		}
	}
	if entry == nil || entry.Upstream == "" {
		return next.ServeHTTP(w, r)
	}
	if inQuery {
		query.Set("token", entry.Upstream)
		interception.SetQuery(r, query)
	} else {
		form.Set("token", entry.Upstream)
		interception.SetBody(r, []byte(form.Encode()))
	}
	if len(entry.AccessTokenEdits) == 0 && !i.rewritesIssuer(d) {
		return next.ServeHTTP(w, r)
	}
	c, body, err := i.readUpstream(w, r, next, "introspection response")
	if c == nil {
		return err
	}
	defer c.Release()
	if mt, _, _ := mime.ParseMediaType(c.Header().Get("Content-Type")); mt == "application/token-introspection+jwt" || mt == "application/jwt" {
		// A signed introspection answer (RFC 9701) is the IdP's to sign:
		// it passes as it is, and says so.
		i.log.Warn("introspection response of another type passed unchanged; it shows the IdP's claims", zap.String("content_type", mt))
		c.WriteHeld()
		return nil
	}
	claims, err := decodeObject(body)
	if err != nil {
		return i.badGateway(w, c, "introspection response is not a JSON object", err)
	}
	if active, _ := claims["active"].(bool); !active {
		c.WriteHeld()
		return nil
	}
	i.policy.Apply(claims, entry.AccessTokenEdits)
	if _, ok := claims["jwt"].(string); ok {
		// Keycloak adds the introspected token itself ("jwt", asked for
		// with Accept: application/jwt): that is the IdP's original, with
		// every claim a hook removed. The token introspected is the one
		// the client holds: idphooks' own.
		claims["jwt"] = tok
	}
	if iss, _ := claims["iss"].(string); i.rewritesIssuer(d) && slices.Contains(d.acceptedIssuers(interception.PublicOrigin(r)), iss) {
		claims["iss"] = i.cfg.Issuer
	}
	out, err := json.Marshal(claims)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	c.WriteBody("application/json", out)
	return nil
}
