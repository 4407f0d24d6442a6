package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// With Shared Signals configured, idphooks answers the SSF transmitter
// metadata at the spec's path (and the appended one): the issuer its SETs
// carry and its own key set, the one that signs them. Without, the path
// is the IdP's.
func TestSSFConfiguration(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, nil, func(c *Config) { c.SharedSignals = true; c.Issuer = "https://auth.example.com/realms/acme" })
	disc := decodeJSON(t, h.do(httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/openid-configuration", nil)).Body.Bytes())
	for _, path := range []string{"/.well-known/ssf-configuration", "/.well-known/SSF-configuration/"} {
		w := h.do(httptest.NewRequest(http.MethodGet, "http://idp.test"+path, nil))
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		m := decodeJSON(t, w.Body.Bytes())
		if m["issuer"] != "https://auth.example.com/realms/acme" || m["jwks_uri"] != "https://auth.example.com/.well-known/idphooks/jwks.json" || m["spec_version"] != "1_0" {
			t.Errorf("%s: %v (discovery's jwks_uri %v)", path, m, disc["jwks_uri"])
		}
		if ms, _ := m["delivery_methods_supported"].([]any); len(ms) != 1 || ms[0] != "urn:ietf:rfc:8935" {
			t.Errorf("%s: delivery methods %v", path, m["delivery_methods_supported"])
		}
		if _, ok := m["configuration_endpoint"]; ok {
			t.Errorf("%s: a stream management endpoint is listed: %v", path, m)
		}
	}
	if w := h.do(httptest.NewRequest(http.MethodPost, "http://idp.test/.well-known/ssf-configuration", nil)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	plain := newHarness(t, idp, nil, nil)
	if w := plain.do(httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/ssf-configuration", nil)); w.Code != http.StatusNotFound {
		t.Errorf("without Shared Signals the IdP's path answered %d %s", w.Code, w.Body)
	}
}

// The metadata binds the SETs' issuer to the key set on the issuer's
// origin whatever host the request names: a Host header (a catch-all
// site) or a trusted proxy's X-Forwarded-Host cannot have this public,
// cacheable document point receivers at an attacker's keys. With no
// public issuer configured, the IdP's is on the upstream's origin, which
// idphooks does not serve: the request's origin it is, as in discovery.
func TestAttackSSFConfigurationHostPicksJWKS(t *testing.T) {
	idp := newTestIdP(t)
	h := newHarness(t, idp, nil, func(c *Config) { c.SharedSignals = true; c.Issuer = "https://auth.example.com/realms/acme" })
	for _, set := range []func(r *http.Request){
		func(r *http.Request) { r.Host = "evil.example" },
		func(r *http.Request) {
			r.Header.Set("X-Forwarded-Host", "evil.example")
			*r = *r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: true}))
		},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/ssf-configuration", nil)
		set(r)
		m := decodeJSON(t, h.do(r).Body.Bytes())
		if m["jwks_uri"] != "https://auth.example.com/.well-known/idphooks/jwks.json" {
			t.Errorf("jwks_uri %v", m["jwks_uri"])
		}
	}
	own := newHarness(t, idp, nil, func(c *Config) { c.SharedSignals = true })
	r := httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/ssf-configuration", nil)
	r.Host = "auth.example.com"
	w := own.do(r)
	if m := decodeJSON(t, w.Body.Bytes()); m["issuer"] != idp.srv.URL || m["jwks_uri"] != "http://auth.example.com/.well-known/idphooks/jwks.json" {
		t.Errorf("without an issuer option: %v", m)
	}
	// Then the document names the request's keys: a shared cache (a
	// CDN keying on Host, in front of a trusted proxy passing on a
	// client's X-Forwarded-Host) must not hand it to other receivers.
	r = httptest.NewRequest(http.MethodGet, "http://idp.test/.well-known/ssf-configuration", nil)
	r.Header.Set("X-Forwarded-Host", "evil.example")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: true}))
	w = own.do(r)
	if m := decodeJSON(t, w.Body.Bytes()); m["jwks_uri"] == "http://evil.example/.well-known/idphooks/jwks.json" {
		if cc := w.Header().Get("Cache-Control"); !strings.HasPrefix(cc, "private") || !strings.Contains(w.Header().Get("Vary"), "X-Forwarded-Host") {
			t.Errorf("a request-made key set URL is cacheable by shared caches: Cache-Control %q, Vary %q", cc, w.Header().Get("Vary"))
		}
	}
}
