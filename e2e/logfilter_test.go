package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// logFilter is README's advice for keeping codes and tokens out of Caddy's
// own debug lines (reverse_proxy logs each upstream roundtrip with the
// request URI and the response headers). The test holds README to it.
const logFilter = `{
	log default {
		format filter {
			wrap json
			request>uri regexp "(?i)([?&](code|id_token_hint|id_token|access_token|refresh_token|state|logout_token)=)[^&]*" "${1}REDACTED"
			headers>Location regexp "(?i)([?&#](code|id_token|access_token|refresh_token|state)=)[^&]*" "${1}REDACTED"
		}
	}
}`

func TestREADMELogFilterKeepsSecretsOut(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), logFilter) {
		t.Fatal("README.md no longer shows the log filter this test checks")
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/authorize":
			http.Redirect(w, r, "https://rp.example/cb?code=SECRETCODE&state=S1#access_token=SECRETAT", http.StatusFound)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer idp.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	global := strings.Replace(logFilter, "log default {", "log default {\n\t\toutput file "+logFile+"\n\t\tlevel DEBUG", 1)
	global = strings.Replace(global, "{\n", "{\n\tadmin off\n\tstorage file_system "+filepath.Join(dir, "storage")+"\n", 1)
	addr := e2etest.FreeAddr(t)
	caddyfile := global + "\nhttp://" + addr + " {\n\treverse_proxy " + strings.TrimPrefix(idp.URL, "http://") + "\n}\n"
	cfg, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting %s: %v %v", caddyfile, err, warn)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/logout?id_token_hint=SECRETIDT&post_logout_redirect_uri=x", "/authorize?client_id=web&state=S1"} {
		resp, err := noRedirect.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_ = caddy.Stop()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "upstream roundtrip") || !strings.Contains(log, "REDACTED") {
		t.Fatalf("no filtered roundtrip lines in the debug log:\n%s", log)
	}
	for _, secret := range []string{"SECRETIDT", "SECRETCODE", "SECRETAT"} {
		if strings.Contains(log, secret) {
			t.Errorf("%s reached the log:\n%s", secret, log)
		}
	}
}
