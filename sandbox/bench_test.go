package sandbox

import (
	"context"
	"os"
	"testing"
)

func BenchmarkTrivialHook(b *testing.B) {
	h := compile(b, "testdata/trivial.js", HookOptions{})
	inv := Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:     tokenAPI,
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Run(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileAndRun is the baseline the engine must beat: compiling
// and running the hook anew on every call.
func BenchmarkCompileAndRun(b *testing.B) {
	e := newEngine(b)
	inv := Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:     tokenAPI,
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h, err := e.Compile("testdata/trivial.js", HookOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Run(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	e := newEngine(b)
	if _, err := os.Stat("testdata/trivial.js"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Compile("testdata/trivial.js", HookOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
