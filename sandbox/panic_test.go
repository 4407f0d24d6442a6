package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// panicCache is a Cache whose backend is broken in the worst way.
type panicCache struct{}

func (panicCache) Get(context.Context, string) ([]byte, bool, error) { panic("backend exploded") }
func (panicCache) Set(context.Context, string, []byte, time.Duration) error {
	panic("backend exploded")
}
func (panicCache) Delete(context.Context, string) error { panic("backend exploded") }

// A Go panic under a hook, in a host function on the runtime goroutine or
// in async work on another, fails that run only: Caddy's process lives on
// and the next run works.
func TestGoPanicsFailTheRunNotTheProcess(t *testing.T) {
	e, err := New(Options{Cache: panicCache{}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "h.js")
	os.WriteFile(path, []byte(`
exports.onBeforeToken = async (event, api) => {
  if (event.mode === "cache") { await cache.get("k"); }
  api.idToken.setClaim("x", 1);
};`), 0o600)
	h, err := e.Compile(path, HookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	panicking := API{Objects: tokenAPI.Objects, Functions: tokenAPI.Functions, Check: func(Op) error { panic("check exploded") }}
	for _, tc := range []struct {
		mode string
		api  API
	}{{"cache", tokenAPI}, {"check", panicking}} {
		_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{"mode": tc.mode}, API: tc.api})
		if !errors.Is(err, ErrThrown) {
			t.Errorf("%s: err = %v, want a failed run", tc.mode, err)
		}
	}
	res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI})
	if err != nil || len(res.Ops) != 1 {
		t.Fatalf("the next run: %v %v", res, err)
	}
}

// The api object is reused across calls of a runtime: nothing a call hangs
// on it, its objects or its methods reaches the next call.
func TestAPIObjectCarriesNothingBetweenCalls(t *testing.T) {
	e, err := New(Options{PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "h.js")
	os.WriteFile(path, []byte(`
exports.onBeforeToken = async (event, api) => {
  for (const target of [api, api.idToken, api.idToken.setClaim, api.deny]) {
    try { if (target.stash) { api.deny("leak: " + target.stash); return; } } catch (e) {}
    try { target.stash = event.user.sub; } catch (e) {}
  }
};`), 0o600)
	h, err := e.Compile(path, HookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, user := range []string{"user0", "user1", "user2"} {
		res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{"user": map[string]any{"sub": user}}, API: tokenAPI})
		if err != nil || len(res.Ops) != 0 {
			t.Fatalf("call %d: %v %+v", i, err, res)
		}
	}
}

// Two hooks with the same file name in different folders (two tenants'
// enrich.js) do not share their cache.
func TestCacheNamespacedByFile(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hooks []*Hook
	for _, who := range []string{"a", "b"} {
		dir := filepath.Join(t.TempDir(), who)
		os.MkdirAll(dir, 0o700)
		path := filepath.Join(dir, "enrich.js")
		os.WriteFile(path, []byte(`
exports.onBeforeToken = async (event, api) => {
  const seen = await cache.get("k");
  if (seen !== undefined) api.deny("saw " + seen);
  await cache.set("k", "`+who+`");
};`), 0o600)
		h, err := e.Compile(path, HookOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, h)
	}
	for _, h := range hooks {
		res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI})
		if err != nil || len(res.Ops) != 0 {
			t.Fatalf("%s: %v %+v", h.Path(), err, res)
		}
	}
}

// A catastrophic regular expression ends at the match timeout (as no
// match) instead of burning a core after its run was given up.
func TestCatastrophicRegexpIsBounded(t *testing.T) {
	h := mustHook(t, Options{Timeout: 5 * time.Second}, HookOptions{}, `
exports.onBeforeToken = (e, api) => { api.deny(String(/^(?=(a+)+$)\1b/.test("a".repeat(32) + "!"))) };`)
	res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI})
	if err != nil || res.Ops[0].Args[0] != "false" {
		t.Fatalf("%v %+v", err, res)
	}
}

// Runs stuck in a native call past their deadline are counted; while too
// many are, the hook's next runs fail at once instead of piling up.
func TestStuckRunsAreCapped(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = (e, api) => { api.deny("x") };`)
	release := make(chan struct{})
	blocking := API{Objects: tokenAPI.Objects, Functions: tokenAPI.Functions, Check: func(Op) error { <-release; return nil }}
	for i := 0; i < maxStuck; i++ {
		_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: blocking, Timeout: 20 * time.Millisecond})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("with %d runs stuck: %v", maxStuck, err)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); h.stuck.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI}); err != nil {
		t.Fatalf("after the stuck runs ended: %v", err)
	}
}
