package events

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/sandbox"
)

// runner is a scripted hook: the dispatcher's logic is tested apart from
// JavaScript (the sandbox has its own tests).
type runner struct {
	handlers map[string]bool
	ops      []sandbox.Op
	err      error
	delay    time.Duration
	calls    atomic.Int32
	lastInv  sandbox.Invocation
}

func (r *runner) Exports(h string) bool { return r.handlers[h] }

func (r *runner) Run(ctx context.Context, inv sandbox.Invocation) (*sandbox.Result, error) {
	r.calls.Add(1)
	r.lastInv = inv
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if inv.Timeout > 0 && r.delay > inv.Timeout {
		return nil, errors.New("timeout")
	}
	if r.err != nil {
		return nil, r.err
	}
	return &sandbox.Result{Ops: r.ops}, nil
}

func on(handlers ...string) map[string]bool {
	m := map[string]bool{}
	for _, h := range handlers {
		m[h] = true
	}
	return m
}

func set(obj, name string, v any) sandbox.Op {
	return sandbox.Op{Object: obj, Method: "setClaim", Args: []any{name, v}}
}

func TestHandlerName(t *testing.T) {
	for id, want := range map[string]string{
		BeforeToken: "onBeforeToken", BeforeSAMLAssertion: "onBeforeSamlAssertion",
		AfterMFAChange: "onAfterMfaChange", AtFailedAuthentication: "onAtFailedAuthentication",
	} {
		if got := HandlerName(id); got != want {
			t.Errorf("%s → %s, want %s", id, got, want)
		}
	}
}

func TestDispatchOrderAndDeny(t *testing.T) {
	a := &runner{handlers: on("onBeforeToken"), ops: []sandbox.Op{set("idToken", "a", 1)}}
	b := &runner{handlers: on("onBeforeToken"), ops: []sandbox.Op{{Method: "deny", Args: []any{"no entry"}}, set("idToken", "late", 1)}}
	c := &runner{handlers: on("onBeforeToken")}
	d := NewDispatcher([]*Hook{{Name: "a", Runner: a}, {Name: "b", Runner: b}, {Name: "c", Runner: c}}, Options{})
	out := d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil)
	if !out.Denied || out.Reason != "no entry" {
		t.Fatalf("outcome %+v", out)
	}
	if len(out.Ops) != 2 || out.Ops[0].Args[0] != "a" {
		t.Fatalf("ops after a deny must not be kept: %+v", out.Ops)
	}
	if c.calls.Load() != 0 {
		t.Fatal("a hook ran after a deny")
	}
}

func TestDispatchFailurePolicies(t *testing.T) {
	failing := &runner{handlers: on("onBeforeToken"), err: errors.New("crm said secret=xyz")}
	for _, tc := range []struct {
		policy Policy
		denied bool
	}{{"", true}, {Deny, true}, {Continue, false}} {
		d := NewDispatcher([]*Hook{{Name: "f", Runner: failing, OnError: tc.policy}}, Options{})
		out := d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil)
		if out.Denied != tc.denied {
			t.Errorf("policy %q: denied=%v", tc.policy, out.Denied)
		}
		if out.Denied && out.Reason != "request denied by policy" {
			t.Errorf("the hook's error reached the user: %q", out.Reason)
		}
	}
}

func TestApplicationsFilter(t *testing.T) {
	r := &runner{handlers: on("onBeforeToken")}
	d := NewDispatcher([]*Hook{{Name: "r", Runner: r, Applications: []string{"web"}}}, Options{})
	if d.Wants(BeforeToken, "other") || !d.Wants(BeforeToken, "web") || !d.WantsEvent(BeforeToken) {
		t.Fatal("Wants ignores the applications filter")
	}
	d.Dispatch(context.Background(), New(BeforeToken, "other", Request{}), nil)
	if r.calls.Load() != 0 {
		t.Fatal("hook ran for another application")
	}
}

func TestBudgetBoundsAllHooks(t *testing.T) {
	slow := &runner{handlers: on("onBeforeToken"), delay: 80 * time.Millisecond}
	d := NewDispatcher([]*Hook{
		{Name: "1", Runner: slow, OnError: Continue},
		{Name: "2", Runner: slow, OnError: Continue},
		{Name: "3", Runner: slow, OnError: Continue},
	}, Options{Budget: 100 * time.Millisecond})
	start := time.Now()
	d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("three hooks took %v with a 100ms budget", el)
	}
	if slow.lastInv.Timeout > 100*time.Millisecond {
		t.Fatalf("a hook got %v, more than the budget", slow.lastInv.Timeout)
	}
}

func TestAsyncHooksDoNotBlockAndCloseWaits(t *testing.T) {
	r := &runner{handlers: on("onBeforeToken"), delay: 50 * time.Millisecond}
	d := NewDispatcher([]*Hook{{Name: "a", Runner: r, Mode: Async}}, Options{})
	start := time.Now()
	out := d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil)
	if time.Since(start) > 40*time.Millisecond || out.Ran != 0 {
		t.Fatalf("async hook blocked the flow: %v %+v", time.Since(start), out)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.calls.Load() != 1 || len(r.lastInv.API.Objects) != 0 || len(r.lastInv.API.Functions) != 0 {
		t.Fatalf("async run: %d calls, api %+v", r.calls.Load(), r.lastInv.API)
	}
}

func TestEventMapKeepsCommonFields(t *testing.T) {
	e := New(BeforeToken, "web", Request{IP: "192.0.2.1", Headers: map[string]string{"origin": "https://rp"}})
	e.Data = map[string]any{"type": "spoofed", "grant_type": "authorization_code"}
	m := e.Map()
	if m["type"] != BeforeToken || m["grant_type"] != "authorization_code" || m["application"] != "web" {
		t.Fatalf("map %v", m)
	}
	if req := m["request"].(map[string]any); req["ip"] != "192.0.2.1" {
		t.Fatalf("request %v", req)
	}
}

// countField counts the fields named key on a log line; observer's
// ContextMap would fold repeats into one.
func countField(e observer.LoggedEntry, key string) int {
	n := 0
	for _, f := range e.Context {
		if f.Key == key {
			n++
		}
	}
	return n
}

// Every failed run, sync or async, is logged exactly once, with its
// duration, kind and cause; every line names its hook once. The loggers
// are wired as caddymodule wires them: the engine's, the hook's (named,
// without fields of its own) and the dispatcher's, all into one core.
func TestHookFailureLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	root := zap.New(core)
	engine, err := sandbox.New(sandbox.Options{Logger: root.Named("hooks")})
	if err != nil {
		t.Fatal(err)
	}
	compile := func(name, src string) *sandbox.Hook {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := engine.Compile(path, sandbox.HookOptions{Name: name, Logger: root.Named("hook")})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	thrower := compile("org.js", `exports.onBeforeToken = () => { console.log("looking up"); throw new Error("crm down") };`)
	looper := compile("loop.js", `exports.onBeforeToken = () => { for (;;) {} };`)
	asyncThrower := compile("notify.js", `exports.onBeforeToken = async () => { throw new TypeError("no webhook") };`)
	d := NewDispatcher([]*Hook{
		{Name: "org.js", Runner: thrower, OnError: Continue},
		{Name: "loop.js", Runner: looper, OnError: Continue, Timeout: 20 * time.Millisecond},
		{Name: "notify.js", Runner: asyncThrower, Mode: Async},
	}, Options{Logger: root.Named("events")})
	out := d.Dispatch(context.Background(), New(BeforeToken, "web", Request{ID: "req-1"}), nil)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.Denied || out.Ran != 2 {
		t.Fatalf("outcome %+v", out)
	}

	want := map[string]string{"org.js": "thrown", "loop.js": "timeout", "notify.js": "thrown"}
	failures := map[string]int{}
	for _, e := range logs.All() {
		if n := countField(e, "hook"); n != 1 {
			t.Errorf("%q has %d hook fields: %v", e.Message, n, e.Context)
		}
		if !strings.Contains(e.Message, "failed") {
			continue
		}
		f := e.ContextMap()
		hook, _ := f["hook"].(string)
		failures[hook]++
		if f["kind"] != want[hook] || f["error"] == nil || f["request_id"] != "req-1" {
			t.Errorf("%s: fields %v", hook, f)
		}
		if d, _ := f["duration"].(time.Duration); d <= 0 {
			t.Errorf("%s: duration %v", hook, f["duration"])
		}
	}
	for hook := range want {
		if failures[hook] != 1 {
			t.Errorf("%s: %d failure lines, want 1 (all lines: %v)", hook, failures[hook], logs.All())
		}
	}
	if n := logs.FilterMessage("looking up").Len(); n != 1 {
		t.Errorf("%d console lines", n)
	}
}

// A hook the event budget leaves no time for is skipped for that reason,
// without running: one line, once per hook and application (the metric
// and the trace count every time); the slow hook's failure is one line.
func TestBudgetExhaustedLoggedOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	slow := &runner{handlers: on("onBeforeToken"), delay: 60 * time.Millisecond}
	never := &runner{handlers: on("onBeforeToken")}
	d := NewDispatcher([]*Hook{
		{Name: "slow", Runner: slow, OnError: Continue},
		{Name: "never", Runner: never, OnError: Continue},
	}, Options{Budget: 50 * time.Millisecond, Logger: zap.New(core)})
	for range 2 {
		d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil)
	}
	if never.calls.Load() != 0 {
		t.Fatal("a hook ran past the budget")
	}
	failed := logs.FilterMessage("hook failed").All()
	if len(failed) != 2 || failed[0].ContextMap()["hook"] != "slow" {
		t.Fatalf("lines %v", logs.All())
	}
	for _, e := range failed {
		if countField(e, "hook") != 1 || e.ContextMap()["duration"].(time.Duration) <= 0 {
			t.Errorf("fields %v", e.Context)
		}
	}
	skipped := logs.FilterMessageSnippet("budget was spent").All()
	if len(skipped) != 1 || skipped[0].ContextMap()["hook"] != "never" || countField(skipped[0], "hook") != 1 {
		t.Fatalf("skip lines %v", skipped)
	}
}
