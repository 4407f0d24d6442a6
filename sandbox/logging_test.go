package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fieldCounts counts a log entry's fields by key.
func fieldCounts(e observer.LoggedEntry) map[string]int {
	n := map[string]int{}
	for _, f := range e.Context {
		n[f.Key]++
	}
	return n
}

// With the Logger Caddy passes (the module's, named "hook"), a console
// line carries hook, event and request_id once each and the hook's name
// only as a field; a failed run writes nothing (the caller logs it).
func TestConsoleLineCarriesEachFieldOnce(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	parent := zap.New(core).Named("http.handlers.idp_hooks")
	for _, tc := range []struct {
		name   string
		engine *zap.Logger
		hook   *zap.Logger
		logger string
	}{
		{"caddy", zap.NewNop(), parent.Named("hook"), "http.handlers.idp_hooks.hook"},
		{"default", parent.Named("hooks"), nil, "http.handlers.idp_hooks.hooks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			h := mustHook(t, Options{Logger: tc.engine}, HookOptions{Name: "claims", Logger: tc.hook}, `
exports.onBeforeToken = (event) => {
  console.log("user", event.user.sub);
  throw new Error("after the log line");
};`)
			_, err := h.Run(context.Background(), Invocation{
				Handler:   "onBeforeToken",
				Event:     map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
				API:       tokenAPI,
				RequestID: "req-1",
			})
			if !errors.Is(err, ErrThrown) {
				t.Fatalf("err = %v", err)
			}
			entries := logs.TakeAll()
			if len(entries) != 1 {
				t.Fatalf("%d entries, want the console line alone: %+v", len(entries), entries)
			}
			e := entries[0]
			if e.LoggerName != tc.logger || e.Message != "user u1" {
				t.Fatalf("logger %q, message %q", e.LoggerName, e.Message)
			}
			n := fieldCounts(e)
			if len(e.Context) != 3 || n["hook"] != 1 || n["event"] != 1 || n["request_id"] != 1 {
				t.Fatalf("fields = %+v", e.Context)
			}
			if f := e.ContextMap(); f["hook"] != "claims" || f["event"] != "before_token" || f["request_id"] != "req-1" {
				t.Fatalf("fields = %v", f)
			}
		})
	}
}

// A Go panic under a run is the run's failure like any other: not logged
// by the sandbox, its value in Detail and the Go calls in Stack.
func TestPanicIsNotLoggedButCarried(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := mustHook(t, Options{Logger: zap.New(core)}, HookOptions{Secrets: map[string]string{"K": "hunter2-secret"}},
		`exports.onBeforeToken = (event, api) => { api.idToken.setClaim("x", secrets.K) };`)
	api := tokenAPI
	api.Check = func(op Op) error { panic("check exploded on " + op.Args[1].(string)) }
	e := runError(t, h, api)
	if logs.Len() != 0 {
		t.Fatalf("logged: %+v", logs.All())
	}
	if e.Detail != "internal error in the sandbox: check exploded on [REDACTED]" {
		t.Fatalf("Detail = %q", e.Detail)
	}
	if first, _, _ := strings.Cut(e.Stack, "\n"); !strings.Contains(first, "TestPanicIsNotLoggedButCarried") || len(e.Stack) > maxStack {
		t.Fatalf("Stack = %s", e.Stack)
	}
}

// The method prefix of a failed Check appears once, whether or not the
// check's own text starts with it.
func TestCheckErrorPrefixedOnce(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = (e, api) => {
  try { api.idToken.setClaim("sub", "x") } catch (err) { api.deny(err.message) }
}`)
	for _, text := range []string{`claim "sub" is protected`, `api.idToken.setClaim: claim "sub" is protected`} {
		api := tokenAPI
		api.Check = func(op Op) error {
			if op.Method == "setClaim" {
				return errors.New(text)
			}
			return nil
		}
		res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", API: api})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Ops[0].Args[0]; got != `api.idToken.setClaim: claim "sub" is protected` {
			t.Fatalf("check %q: message %q", text, got)
		}
	}
	// Another method's prefix is not this one's.
	if got := checkMessage("api.deny", errors.New("api.idToken.setClaim: x")); got != "api.deny: api.idToken.setClaim: x" {
		t.Fatalf("got %q", got)
	}
}
