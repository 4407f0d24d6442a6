package main

import (
	"encoding/json"
	"net"
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

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The delivery commands against a running Caddy: the receivers, a test
// event, its message by receiver, a replay.
func TestDeliveryCommands(t *testing.T) {
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-signature") != "" {
			got.Add(1)
		}
	}))
	defer rcv.Close()
	dir := t.TempDir()
	admin, addr := freeAddr(t), freeAddr(t)
	cfg := map[string]any{
		"admin": map[string]any{"listen": admin},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
			"listen": []string{addr},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"handler": "idp_hooks", "upstream": "http://127.0.0.1:9", "state_path": filepath.Join(dir, "state.db"),
				"webhooks": []any{map[string]any{"url": rcv.URL + "/events", "events": []string{"after_login"},
					"secrets": []string{webhook.GenerateSecret()}, "allow_hosts": []string{"127.0.0.1"}}},
			}}}},
		}}}},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "caddy.json")
	os.WriteFile(path, b, 0o600)
	run := exec.Command(bin, "run", "--config", path)
	run.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + admin + "/config/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("caddy did not start")
		}
	}
	out, err := caddy(t, "idp-hooks", "deliveries", "--address", admin)
	if err != nil || !strings.Contains(out, rcv.URL+"/events") || !strings.Contains(out, `"active"`) {
		t.Fatalf("deliveries: %v\n%s", err, out)
	}
	if out, err := caddy(t, "idp-hooks", "send-test", "--address", admin, "--receiver", rcv.URL+"/events"); err != nil || !strings.Contains(out, `"id"`) {
		t.Fatalf("send-test: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(15 * time.Second); got.Load() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the test event did not arrive")
		}
	}
	if out, err := caddy(t, "idp-hooks", "deliveries", "replay", "--address", admin, "--all"); err != nil || !strings.Contains(out, `"replayed": 0`) {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if out, err := caddy(t, "idp-hooks", "send-test", "--address", admin, "--receiver", "nope"); err == nil || !strings.Contains(out, "no receiver") {
		t.Fatalf("send-test to no receiver: %v\n%s", err, out)
	}
}
