// Package whverifier runs an independent Standard Webhooks receiver for
// tests: server.mjs verifies every POST with the npm standardwebhooks
// library (each secret on its own) and v1a signatures with node's
// Ed25519, logs what it verified (GET /_log) and answers as told.
package whverifier

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/testidp"
)

// dir is this package's folder, where server.mjs and its npm packages are.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Delivered is one POST the receiver verified.
type Delivered struct {
	ID        string         `json:"id"`
	Timestamp int64          `json:"timestamp"`
	Verified  []string       `json:"verified"`
	Payload   map[string]any `json:"payload"`
	Path      string         `json:"path"`
}

// Receiver is a running server.mjs.
type Receiver struct {
	URL string // http://127.0.0.1:port
}

// Answer is what the receiver answers on one path.
type Answer struct {
	Status int `json:"status,omitempty"`
	Body   any `json:"body"`
}

// Start runs the npm standardwebhooks receiver with the given
// secrets and public keys; each must verify every POST it accepts.
func Start(t testing.TB, secrets, publicKeys []string, answers map[string]Answer) *Receiver {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := testidp.NPMCI(ctx, dir(), "standardwebhooks", nil); err != nil {
		t.Fatal(err)
	}
	ans, err := json.Marshal(answers)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = dir()
	cmd.Env = append(os.Environ(), "SECRETS="+strings.Join(secrets, ","),
		"PUBLIC_KEYS="+strings.Join(publicKeys, ","), "ANSWERS="+string(ans))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		port, found := strings.CutPrefix(line, "listening ")
		if !ok || !found {
			t.Fatalf("verifier did not start: %q", line)
		}
		return &Receiver{URL: "http://127.0.0.1:" + port}
	case <-time.After(30 * time.Second):
		t.Fatal("verifier did not start within 30s")
	}
	return nil
}

// Log returns what the receiver verified so far.
func (r *Receiver) Log(t testing.TB) []Delivered {
	t.Helper()
	resp, err := http.Get(r.URL + "/_log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []Delivered
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(errors.Join(errors.New("reading the verifier's log"), err))
	}
	return out
}
