package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
		if resp, err := http.Get("http://" + admin + "/idp-hooks/receivers"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), rcv.URL) {
				break
			}
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

// A running Caddy killed with SIGKILL mid-delivery, then started again on
// the same files: every event it accepted reaches the receiver at least
// once, a duplicate with the same webhook-id.
func TestDeliveryAcrossSIGKILL(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond) // slow enough to be killed mid-way
		mu.Lock()
		seen[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	defer rcv.Close()
	dir := t.TempDir()
	admin := freeAddr(t)
	receiver := rcv.URL + "/events"
	cfg := map[string]any{
		"admin": map[string]any{"listen": admin},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"s": map[string]any{
			"listen": []string{freeAddr(t)},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"handler": "idp_hooks", "upstream": "http://127.0.0.1:9", "state_path": filepath.Join(dir, "state.db"),
				"webhooks": []any{map[string]any{"url": receiver, "events": []string{"after_login"}, "max_concurrency": 2,
					"secrets": []string{webhook.GenerateSecret()}, "allow_hosts": []string{"127.0.0.1"}}},
			}}}},
		}}}},
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "caddy.json")
	os.WriteFile(path, b, 0o600)
	start := func() *exec.Cmd {
		run := exec.Command(bin, "run", "--config", path)
		run.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			// Up once the config is loaded: its receiver is listed.
			if resp, err := http.Get("http://" + admin + "/idp-hooks/receivers"); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.Contains(string(body), receiver) {
					return run
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("caddy did not start")
			}
		}
	}
	run := start()
	// Accept events from 8 clients at once; count what was accepted.
	var accepted sync.Map
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				resp, err := http.Post("http://"+admin+"/idp-hooks/send-test", "application/json", strings.NewReader(`{"receiver":"`+receiver+`"}`))
				if err != nil {
					return // killed
				}
				var m map[string]string
				json.NewDecoder(resp.Body).Decode(&m)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Store(m["id"], true)
				}
			}
		}()
	}
	// Kill it once some, not all, have been delivered.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
	}
	_ = run.Process.Signal(syscall.SIGKILL)
	_ = run.Wait()
	wg.Wait()
	total := 0
	accepted.Range(func(any, any) bool { total++; return true })
	mu.Lock()
	before := len(seen)
	mu.Unlock()
	run = start()
	t.Cleanup(func() { _ = run.Process.Kill(); _ = run.Wait() })
	var missing int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		missing = 0
		mu.Lock()
		accepted.Range(func(id, _ any) bool {
			if seen[id.(string)] == 0 {
				missing++
			}
			return true
		})
		mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	mu.Unlock()
	t.Logf("accepted %d, delivered %d before the kill, %d delivered twice", total, before, dups)
	if missing > 0 || total == 0 {
		t.Fatalf("%d of %d accepted events never delivered", missing, total)
	}
}
