// Package redistest runs a real redis-server (Debian's redis-server
// package) on a loopback port for tests: started once per test package
// from TestMain, stopped by its PID, restarted on the same port and data
// directory to test what survives. It is meant for tests only.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoRedis is returned by Start when redis-server is not installed;
// tests skip on it outside CI (.ci/run installs the package).
var ErrNoRedis = errors.New("redistest: redis-server not found (Debian package redis-server)")

// Options configures Start.
type Options struct {
	// AppendFsync is Redis' appendfsync with the append-only file on:
	// "always" (the default here: an acknowledged write is on disk),
	// "everysec" or "no".
	AppendFsync string
	// Password, when set, is the default user's password (requirepass).
	Password string
	// User and UserPassword, when set, add an ACL user with every
	// permission, and turn the default user off.
	User, UserPassword string
	// TLS serves TLS only (no plain port), with a certificate for
	// 127.0.0.1 written into the data directory (Server.CAFile).
	TLS bool
}

// Server is a running (or stopped) redis-server.
type Server struct {
	// Addr is its host:port on loopback.
	Addr string
	// Dir holds its configuration, AOF and log.
	Dir string
	// CAFile is the PEM certificate clients trust with Options.TLS.
	CAFile string

	opts Options
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts redis-server in a new temporary directory on a free
// loopback port and waits until it answers.
func Start(opts Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, ErrNoRedis
	}
	if opts.AppendFsync == "" {
		opts.AppendFsync = "always"
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, Dir: dir, opts: opts}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.Restart(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) writeConfig() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	var c strings.Builder
	fmt.Fprintf(&c, "bind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\n", s.Dir, filepath.Join(s.Dir, "redis.log"))
	fmt.Fprintf(&c, "appendonly yes\nappendfsync %s\nsave \"\"\n", s.opts.AppendFsync)
	if s.opts.TLS {
		cert, key, err := writeCert(s.Dir)
		if err != nil {
			return err
		}
		s.CAFile = cert
		fmt.Fprintf(&c, "port 0\ntls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-auth-clients no\n", port, cert, key)
	} else {
		fmt.Fprintf(&c, "port %s\n", port)
	}
	if s.opts.Password != "" {
		fmt.Fprintf(&c, "requirepass %s\n", s.opts.Password)
	}
	if s.opts.User != "" {
		fmt.Fprintf(&c, "user default off\nuser %s on >%s ~* &* +@all\n", s.opts.User, s.opts.UserPassword)
	}
	return os.WriteFile(filepath.Join(s.Dir, "redis.conf"), []byte(c.String()), 0o600)
}

// Restart starts the server again (after Stop or Kill) on the same port
// and directory, and waits until it answers.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: already running")
	}
	cmd := exec.Command("redis-server", filepath.Join(s.Dir, "redis.conf"))
	// Killed with the test binary, should it die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := s.ping(); err == nil {
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("redistest: redis-server exited at start; its log:\n%s", s.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server did not answer on %s; its log:\n%s", s.Addr, s.Log())
		}
	}
}

// ping sends a PING (with AUTH when a password is set) and reads the
// answer.
func (s *Server) ping() error {
	var c net.Conn
	var err error
	d := net.Dialer{Timeout: time.Second}
	if s.opts.TLS {
		c, err = tls.DialWithDialer(&d, "tcp", s.Addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe
	} else {
		c, err = d.Dial("tcp", s.Addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	switch {
	case s.opts.User != "":
		fmt.Fprintf(c, "AUTH %s %s\r\n", s.opts.User, s.opts.UserPassword)
	case s.opts.Password != "":
		fmt.Fprintf(c, "AUTH %s\r\n", s.opts.Password)
	}
	fmt.Fprint(c, "PING\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+PONG") {
			return nil
		}
		if strings.HasPrefix(line, "-") {
			return errors.New(strings.TrimSpace(line))
		}
	}
}

// Stop stops the server with SIGTERM (Redis writes and syncs its AOF
// before it exits) and waits for it.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL: what the AOF holds is what
// appendfsync made durable.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

// Pause stops the server with SIGSTOP: the kernel still accepts
// connections and takes commands into its buffers, and nothing answers —
// a Redis that hangs (swapping, a long fork, a frozen VM). Resume ends it.
func (s *Server) Pause() error { return s.pause(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.pause(syscall.SIGCONT) }

func (s *Server) pause(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redistest: server not running")
	}
	return s.cmd.Process.Signal(sig)
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// PID is the running server's process id, 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Log is the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	_ = os.RemoveAll(s.Dir)
	return err
}

// Skip reports whether tests that need Redis may skip over err:
// redis-server is not installed and CI is not set. In CI (.ci/run
// installs it) a missing redis-server fails the tests instead.
func Skip(err error) bool { return errors.Is(err, ErrNoRedis) && os.Getenv("CI") == "" }

// ForPackage starts a package's server from its TestMain. It returns nil
// and no error when the tests may skip (Skip), saying so on stderr under
// pkg's name.
func ForPackage(pkg string, opts Options) (*Server, error) {
	s, err := Start(opts)
	if Skip(err) {
		fmt.Fprintf(os.Stderr, "%s: skipping the Redis tests: %v\n", pkg, err)
		return nil, nil
	}
	return s, err
}
