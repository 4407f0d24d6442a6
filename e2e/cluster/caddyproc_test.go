package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// caddyProc is one Caddy process run from caddyBin with a Caddyfile,
// started and stopped by its PID. Its output (Caddy's JSON log lines) is
// kept across restarts for the tests to read.
type caddyProc struct {
	name   string
	dir    string // its HOME: Caddy's own data and config folders
	config string // the Caddyfile
	addr   string // host:port of its site
	admin  string // host:port of its admin endpoint; empty: off
	env    []string

	log logBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newCaddyProc writes caddyfile into a folder of its own; start runs it.
func newCaddyProc(t *testing.T, name, addr, admin, caddyfile string, env ...string) *caddyProc {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{name: name, dir: dir, config: filepath.Join(dir, "Caddyfile"), addr: addr, admin: admin, env: env}
	if err := os.WriteFile(p.config, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("caddy %s, its log (last 12 KiB):\n%s", p.name, p.log.tail(12<<10))
		}
	})
	return p
}

// start runs the process and waits until its site accepts connections
// (Caddy listens once the config is provisioned).
func (p *caddyProc) start(t *testing.T) {
	t.Helper()
	if err := p.run(); err != nil {
		t.Fatal(err)
	}
}

// run is start for any goroutine: it returns what went wrong.
func (p *caddyProc) run() error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return fmt.Errorf("caddy %s: already running", p.name)
	}
	cmd := exec.Command(caddyBin, "run", "--config", p.config, "--adapter", "caddyfile")
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+p.dir, "XDG_DATA_HOME="+p.dir, "XDG_CONFIG_HOME="+p.dir)
	cmd.Env = append(cmd.Env, p.env...)
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	// Killed with the test binary, should it die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(&p.log, "--- %s: start\n", time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("caddy %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
			c.Close()
			if p.admin == "" || adminUp(p.admin) {
				return nil
			}
		}
		select {
		case <-done:
			p.mu.Lock()
			p.cmd = nil
			p.mu.Unlock()
			return fmt.Errorf("caddy %s exited at start; its log:\n%s", p.name, p.log.tail(8<<10))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy %s did not listen on %s within 30s; its log:\n%s", p.name, p.addr, p.log.tail(8<<10))
		}
	}
}

func adminUp(addr string) bool {
	resp, err := http.Get("http://" + addr + "/config/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends the process with SIGTERM (a graceful shutdown) and waits;
// kill ends it with SIGKILL, as a crash would.
func (p *caddyProc) stop() { p.signal(syscall.SIGTERM) }
func (p *caddyProc) kill() { p.signal(syscall.SIGKILL) }

func (p *caddyProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	fmt.Fprintf(&p.log, "--- %s: %s to pid %d\n", time.Now().Format(time.RFC3339Nano), sig, p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}

// origin is the process' own origin, for requests pinned to it by URL.
func (p *caddyProc) origin() string { return "http://" + p.addr }

// logBuffer keeps everything a process wrote.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

// mark is the log's length now: entries(since mark) are what came after.
func (l *logBuffer) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// logEntry is one of Caddy's JSON log lines.
type logEntry struct {
	Level  string         `json:"level"`
	Logger string         `json:"logger"`
	Msg    string         `json:"msg"`
	Fields map[string]any `json:"-"`
	Raw    string         `json:"-"`
}

// entries are the JSON log lines written since mark whose message
// contains msg.
func (l *logBuffer) entries(since int, msg string) []logEntry {
	l.mu.Lock()
	b := append([]byte(nil), l.buf.Bytes()[since:]...)
	l.mu.Unlock()
	var out []logEntry
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(line), &e) != nil || !strings.Contains(e.Msg, msg) {
			continue
		}
		_ = json.Unmarshal([]byte(line), &e.Fields)
		e.Raw = line
		out = append(out, e)
	}
	return out
}
