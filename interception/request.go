package interception

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/events"
)

// DefaultRequestHeaders are the request headers hooks see unless
// configured otherwise: none that carries a credential.
var DefaultRequestHeaders = []string{"Accept-Language", "Origin", "Referer"}

// EventRequest is the request as hooks may see it: no cookies, no
// credentials, only the allow-listed headers.
func EventRequest(r *http.Request, headers []string) events.Request {
	req := events.Request{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, UserAgent: r.UserAgent(),
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.IP = host
	} else {
		req.IP = r.RemoteAddr
	}
	if ip := clientIP(r); ip != "" {
		req.IP = ip
	}
	req.ID = RequestID(r)
	for _, h := range headers {
		if v := r.Header.Get(h); v != "" {
			if req.Headers == nil {
				req.Headers = make(map[string]string, len(headers))
			}
			req.Headers[strings.ToLower(h)] = v
		}
	}
	return req
}

// clientIP is the client address Caddy determined (trusted proxies applied).
func clientIP(r *http.Request) string {
	if v, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		if ip, ok := v[caddyhttp.ClientIPVarKey].(string); ok {
			return ip
		}
	}
	return ""
}

// RequestID is Caddy's id of the request ({http.request.uuid}), the one its
// access log shows, so hook log lines and access log lines can be joined.
func RequestID(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if id, ok := repl.GetString("http.request.uuid"); ok {
			return id
		}
	}
	return ""
}

// PublicOrigin is the scheme and host the client used to reach idphooks.
// Behind a TLS-terminating load balancer that Caddy trusts (its
// trusted_proxies), the forwarded scheme and host are the public ones; from
// anyone else they are ignored.
func PublicOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if trustedProxy(r) {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

func trustedProxy(r *http.Request) bool {
	v, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any)
	t, _ := v[caddyhttp.TrustedProxyVarKey].(bool)
	return t
}

// firstValue is the first of a comma-separated header's values.
func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// PathOf is the path of URL u ("/" for none, "" for no URL).
func PathOf(u string) string {
	if u == "" {
		return ""
	}
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	if pu.Path == "" {
		return "/"
	}
	return pu.Path
}

// OriginOf is the scheme://host of URL u, or "".
func OriginOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return ""
	}
	return pu.Scheme + "://" + pu.Host
}
