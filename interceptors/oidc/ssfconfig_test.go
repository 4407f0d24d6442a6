package oidc

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
		if m["issuer"] != "https://auth.example.com/realms/acme" || m["jwks_uri"] != disc["jwks_uri"] || m["spec_version"] != "1_0" {
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
