package oidc

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// serveJWKS answers with idphooks' public keys and, unless disabled, the
// upstream's: tokens idphooks re-signed verify with the first, tokens it
// left alone with the second. It is served both at idphooks' own path and
// at the upstream's jwks path, so clients that skip discovery still see it.
func (i *Interceptor) serveJWKS(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, nil)
	}
	keys := append([]json.RawMessage(nil), i.cfg.Signer.PublicKeyJSON()...)
	if i.cfg.PublishUpstreamKeys {
		up, err := i.up.Keys.Raw(r.Context())
		var de *docError
		switch {
		case errors.As(err, &de):
			// Our own keys still verify every token we issued. Logged
			// once per failed fetch, not per client fetching the set.
			i.logOutage(de)
		case err != nil:
			i.log.Warn("upstream JWKS unavailable; serving idphooks keys only", zap.Error(err))
		}
		keys = append(keys, up...)
	}
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	// Public keys: browser clients on any origin may fetch them.
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return nil
}
