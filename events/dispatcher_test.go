package events

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

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
