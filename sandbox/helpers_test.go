package sandbox

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// writeHook writes src as hook.js, plus any extra files, in a fresh folder.
func writeHook(t testing.TB, src string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(extra); i += 2 {
		p := filepath.Join(dir, extra[i])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(extra[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "hook.js")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustHook compiles src with the given options.
func mustHook(t testing.TB, eo Options, ho HookOptions, src string, extra ...string) *Hook {
	t.Helper()
	e, err := New(eo)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.Compile(writeHook(t, src, extra...), ho)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// runToken runs onBeforeToken with the token api and a small event.
func runToken(h *Hook) (*Result, error) {
	return h.Run(context.Background(), Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:     tokenAPI,
	})
}

// mapResolver answers from a fixed table, standing in for DNS.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := m[host]; ok {
		return ips, nil
	}
	return nil, &netErr{host}
}

type netErr struct{ host string }

func (e *netErr) Error() string { return "no such host " + e.host }
