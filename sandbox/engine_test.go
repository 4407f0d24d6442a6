package sandbox

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var tokenAPI = API{
	Objects:   map[string][]string{"idToken": {"setClaim", "removeClaim"}, "accessToken": {"setClaim", "removeClaim"}},
	Functions: []string{"deny"},
}

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func compile(t testing.TB, path string, opts HookOptions) *Hook {
	t.Helper()
	h, err := newEngine(t).Compile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAsyncHandlerRecordsOps(t *testing.T) {
	h := compile(t, "testdata/claims.js", HookOptions{})
	if !h.Exports("onBeforeToken") || h.Exports("onAfterLogin") {
		t.Fatalf("exports = %v", h.Handlers())
	}
	res, err := h.Run(context.Background(), Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1", "blocked": true}},
		API:     tokenAPI,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Object: "idToken", Method: "setClaim", Args: []any{"tier", "gold"}},
		{Object: "accessToken", Method: "setClaim", Args: []any{"n", int64(42)}},
		{Method: "deny", Args: []any{"blocked"}},
	}
	if !reflect.DeepEqual(res.Ops, want) {
		t.Fatalf("ops = %#v", res.Ops)
	}
}

func TestSyntaxErrorNamesFileAndLine(t *testing.T) {
	_, err := newEngine(t).Compile("testdata/syntax.js", HookOptions{})
	if err == nil || !strings.Contains(err.Error(), "syntax.js:2") {
		t.Fatalf("err = %v", err)
	}
}

func TestInfiniteLoopTimesOut(t *testing.T) {
	h := compile(t, "testdata/loop.js", HookOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", API: tokenAPI})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
}
