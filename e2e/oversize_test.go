package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// An upstream answer over max_body is answered with idphooks' 502 through
// Caddy's real reverse_proxy, not a dropped connection: the capture keeps
// reading past its cap, and an answer too large even for that is cut off
// and still answered.
func TestOversizedUpstreamAnswerIs502ThroughReverseProxy(t *testing.T) {
	var size int
	var up *httptest.Server
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": up.URL, "token_endpoint": up.URL + "/token",
				"userinfo_endpoint": up.URL + "/userinfo", "jwks_uri": up.URL + "/jwks"})
		case "/jwks":
			io.WriteString(w, `{"keys":[]}`)
		case "/token", "/userinfo":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"`)
			chunk := strings.Repeat("a", 64<<10)
			for n := 0; n < size; n += len(chunk) {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
			io.WriteString(w, `"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	hook := e2etest.WriteHook(t, dir, "deny.js", `exports.onBeforeToken = (e, api) => api.deny("no")
exports.onBeforeUserinfo = (e, api) => api.deny("no")`)
	origin := e2etest.LoadCaddy(t, e2etest.Config{Addr: e2etest.FreeAddr(t), Dir: dir, Upstream: up.URL, Handler: e2etest.Hooks(hook)})
	for _, s := range []int{2 << 20, 24 << 20} {
		size = s
		resp, err := http.PostForm(origin+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"web"}})
		if err != nil {
			t.Fatalf("%d bytes: %v (the connection dropped)", s, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "too large") {
			t.Errorf("%d-byte token answer: %d %s %v", s, resp.StatusCode, body, err)
		}
		req, _ := http.NewRequest(http.MethodGet, origin+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer x")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%d-byte userinfo answer: %v (the connection dropped)", s, err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		var oauth map[string]string
		if err != nil || resp.StatusCode != http.StatusBadGateway || json.Unmarshal(body, &oauth) != nil ||
			oauth["error"] != "server_error" || oauth["error_description"] != "identity provider response too large" {
			t.Errorf("%d-byte userinfo answer: %d %s %v, want 502 server_error, too large", s, resp.StatusCode, body, err)
		}
	}
}
