package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery/webhook"
)

// A receiver that answered 410 stays disabled when Caddy restarts (its
// mark is in Caddy storage), until `deliveries enable`; then its message
// is delivered.
func TestGoneStaysDisabledAcrossARestart(t *testing.T) {
	var gone atomic.Bool
	gone.Store(true)
	var delivered, requests atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if gone.Load() {
			w.WriteHeader(http.StatusGone)
			return
		}
		delivered.Add(1)
	}))
	defer rcv.Close()
	dir := t.TempDir()
	admin := freeAddr(t)
	receiver := rcv.URL + "/events"
	cfg := map[string]any{
		"admin":   map[string]any{"listen": admin},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
			"listen": []string{freeAddr(t)},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"handler": "idp_hooks", "upstream": "http://127.0.0.1:9", "state_path": filepath.Join(dir, "state.db"),
				"webhooks": []any{map[string]any{"url": receiver, "events": []string{"after_login"},
					"secrets": []string{webhook.GenerateSecret()}, "allow_hosts": []string{"127.0.0.1"}}},
			}}}},
		}}}},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "caddy.json")
	os.WriteFile(path, b, 0o600)
	state := func() string {
		resp, err := http.Get("http://" + admin + "/idp-hooks/receivers")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var hs []struct{ Name, State string }
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &hs)
		for _, h := range hs {
			if h.Name == receiver {
				return h.State
			}
		}
		return ""
	}
	start := func() *exec.Cmd {
		run := exec.Command(bin, "run", "--config", path)
		run.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
		waitUntil(t, "caddy to start", func() bool { return state() != "" })
		return run
	}
	run := start()
	if out, err := caddy(t, "idp-hooks", "send-test", "--address", admin, "--receiver", receiver); err != nil {
		t.Fatalf("send-test: %v\n%s", err, out)
	}
	waitUntil(t, "the receiver to be disabled", func() bool { return state() == "disabled" })
	_ = run.Process.Kill()
	_ = run.Wait()

	gone.Store(false)
	start()
	// Restarted: still disabled, nothing attempted.
	time.Sleep(500 * time.Millisecond)
	if s := state(); s != "disabled" || requests.Load() != 1 {
		t.Fatalf("after a restart: state %q, %d requests; want disabled, 1", s, requests.Load())
	}
	if out, err := caddy(t, "idp-hooks", "deliveries", "enable", "--address", admin, "--receiver", receiver); err != nil || !strings.Contains(out, `"enabled"`) {
		t.Fatalf("enable: %v\n%s", err, out)
	}
	waitUntil(t, "the message after enable", func() bool { return delivered.Load() == 1 })
	if s := state(); s != "active" {
		t.Fatalf("state after enable: %q", s)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}
