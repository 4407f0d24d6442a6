package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// BenchmarkCaddyPassThrough compares a request idphooks does not intercept
// (a static asset of the IdP) through Caddy with idp_hooks + reverse_proxy
// against reverse_proxy alone, over real loopback connections.
func BenchmarkCaddyPassThrough(b *testing.B) {
	asset := strings.Repeat("body{color:#222}", 256) // 4 KiB of CSS
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		io.WriteString(w, asset)
	}))
	defer static.Close()
	for _, mode := range []struct {
		name  string
		plain bool
	}{{"reverse_proxy", true}, {"idp_hooks", false}} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			origin := e2etest.LoadCaddy(b, e2etest.Config{
				Addr: e2etest.FreeAddr(b), Dir: dir, Upstream: zitadel.Issuer(),
				Dial: strings.TrimPrefix(static.URL, "http://"), Plain: mode.plain,
				Handler: e2etest.Hooks(e2etest.WriteHook(b, dir, "claims.js", e2etest.ClaimsHook)),
			})
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			get := func() {
				resp, err := client.Get(origin + "/static/app.css")
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != int64(len(asset)) {
					b.Fatalf("%d, %d bytes", resp.StatusCode, n)
				}
			}
			get() // idp_hooks fetches discovery on first use
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get()
				}
			})
		})
	}
}
