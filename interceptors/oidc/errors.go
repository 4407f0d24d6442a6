package oidc

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// keepCORS copies the IdP's CORS headers from its captured answer, so a
// browser client (an SPA at the token or userinfo endpoint) can read the
// error idphooks answers in its place.
func keepCORS(w http.ResponseWriter, upstream http.Header) {
	for k, v := range upstream {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			w.Header()[k] = v
		}
	}
}

// protocolError writes an RFC 6749 §5.2 style error body. The description is
// meant for the end user; internal causes stay in the log.
func protocolError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// badGateway logs why an upstream answer could not be used and returns a
// 502 whose message names the problem but not the upstream's data.
func (i *Interceptor) badGateway(msg string, err error) error {
	i.log.Error(msg, zap.Error(err))
	return caddyhttp.Error(http.StatusBadGateway, errorString(msg))
}

type errorString string

func (e errorString) Error() string { return string(e) }

func itoa(n int) string { return strconv.Itoa(n) }
