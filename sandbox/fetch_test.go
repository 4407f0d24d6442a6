package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// allowLoopback is what tests add to reach their httptest servers.
var allowLoopback = HookOptions{AllowedCIDRs: []string{"127.0.0.1/32"}}

func TestFetchJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.Method != "POST" {
			http.Error(w, "bad request", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"tier":"gold","id":7}`)
	}))
	defer srv.Close()
	h := mustHook(t, Options{}, allowLoopback, fmt.Sprintf(`
exports.onBeforeToken = async (event, api) => {
  const r = await fetch(%q, { method: "post", headers: { authorization: "Bearer k" }, body: JSON.stringify({ sub: event.user.sub }) });
  if (!r.ok) throw new Error("status " + r.status);
  const c = await r.json();
  api.idToken.setClaim("tier", c.tier);
  api.accessToken.setClaim("ct", r.headers.get("content-type"));
};`, srv.URL))
	res, err := runToken(h)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops[0].Args[1] != "gold" || res.Ops[1].Args[1] != "application/json" {
		t.Fatalf("ops = %+v", res.Ops)
	}
}

// Egress is refused for inside addresses however they are reached.
func TestFetchEgressRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-loopback":
			http.Redirect(w, r, "http://127.0.0.2"+strings.TrimPrefix(srvAddr(r), "127.0.0.1")+"/", http.StatusFound)
		case "/to-name":
			http.Redirect(w, r, "http://inside.test/", http.StatusFound)
		default:
			fmt.Fprint(w, "reached")
		}
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	resolver := mapResolver{
		"inside.test":   {netip.MustParseAddr("10.1.2.3")},
		"loopback.test": {netip.MustParseAddr("127.0.0.1")},
		"meta.test":     {netip.MustParseAddr("169.254.169.254")},
		"mapped.test":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"v6meta.test":   {netip.MustParseAddr("fd00:ec2::254")},
		"cgnat.test":    {netip.MustParseAddr("100.64.0.1")},
		"localhost":     {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	}
	tests := []struct {
		name string
		url  string
		opts HookOptions
		want string
	}{
		{"loopback literal", srv.URL, HookOptions{}, "127.0.0.1 is not a public address"},
		{"localhost", "http://localhost" + port, HookOptions{}, "not a public address"},
		{"name resolving to loopback", "http://loopback.test" + port, HookOptions{}, "not a public address"},
		{"name resolving to private", "http://inside.test/", HookOptions{}, "10.1.2.3 is not a public address"},
		{"name resolving to CGNAT", "http://cgnat.test/", HookOptions{}, "not a public address"},
		{"metadata literal", "http://169.254.169.254/latest/meta-data/", HookOptions{}, "cloud metadata"},
		{"metadata by name", "http://meta.test/", HookOptions{}, "cloud metadata"},
		{"metadata v6", "http://v6meta.test/", HookOptions{}, "cloud metadata"},
		{"metadata with host allowed", "http://meta.test/", HookOptions{AllowedHosts: []string{"meta.test"}}, "cloud metadata"},
		{"ipv4-mapped literal", "http://[::ffff:127.0.0.1]" + port, HookOptions{}, "not a public address"},
		{"unspecified", "http://0.0.0.0" + port, HookOptions{}, "not a public address"},
		{"ipv6 loopback", "http://[::1]" + port, HookOptions{}, "not a public address"},
		{"ipv6 loopback with a zone", "http://[::1%25lo]" + port, HookOptions{}, "not a public address"},
		{"ipv6 loopback with a numeric zone", "http://[::1%251]" + port, HookOptions{}, "not a public address"},
		{"ipv6 link-local with a zone", "http://[fe80::1%25lo]" + port, HookOptions{}, "not a public address"},
		{"redirect to metadata", srv.URL + "/to-metadata", allowLoopback, "cloud metadata"},
		{"redirect to other loopback", srv.URL + "/to-loopback", allowLoopback, "127.0.0.2 is not a public address"},
		{"redirect to private name", srv.URL + "/to-name", allowLoopback, "10.1.2.3 is not a public address"},
		{"host not allowed", "http://example.com/", HookOptions{AllowedHosts: []string{"crm.example"}}, "not in the hook's allowed hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, Options{Resolver: resolver}, tt.opts, fmt.Sprintf(`
exports.onBeforeToken = async (event, api) => { const r = await fetch(%q); api.deny(await r.text()) };`, tt.url))
			_, err := runToken(h)
			if !errors.Is(err, ErrThrown) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// An allowed name may resolve inside.
	h := mustHook(t, Options{Resolver: resolver}, HookOptions{AllowedHosts: []string{"loopback.test"}}, fmt.Sprintf(`
exports.onBeforeToken = async (event, api) => { const r = await fetch(%q); api.deny(await r.text()) };`, "http://loopback.test"+port))
	res, err := runToken(h)
	if err != nil || res.Ops[0].Args[0] != "reached" {
		t.Fatalf("allowed host: %v %v", res, err)
	}
}

func srvAddr(r *http.Request) string { return r.Host }

func TestFetchLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write(make([]byte, 2<<20))
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}
	}))
	defer srv.Close()

	h := mustHook(t, Options{}, allowLoopback, fmt.Sprintf(`
exports.onBeforeToken = async () => { await fetch(%q) };`, srv.URL+"/big"))
	if _, err := runToken(h); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big body: %v", err)
	}

	h = mustHook(t, Options{Timeout: 100 * time.Millisecond}, allowLoopback, fmt.Sprintf(`
exports.onBeforeToken = async () => { await fetch(%q) };`, srv.URL+"/slow"))
	start := time.Now()
	if _, err := runToken(h); !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("slow fetch held the run %v", d)
	}
}

// A fetch error naming a secret (in the URL) does not reveal it.
func TestFetchErrorRedactsSecrets(t *testing.T) {
	const secret = "tok-5ecret-99"
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"T": secret}}, `
exports.onBeforeToken = async () => { await fetch("http://127.0.0.1:1/?token=" + secrets.T) };`)
	_, err := runToken(h)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v", err)
	}
}
