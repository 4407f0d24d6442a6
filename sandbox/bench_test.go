package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/dop251/goja"
)

func BenchmarkTrivialHook(b *testing.B) {
	h := compile(b, "testdata/trivial.js", HookOptions{})
	inv := trivialInvocation()
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
	inv := trivialInvocation()
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

// BenchmarkFetchLoopback measures a hook that fetches JSON from a loopback
// server; compare with BenchmarkLoopbackBaseline for the sandbox's share.
func BenchmarkFetchLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"tier":"gold"}`))
	}))
	defer srv.Close()
	h := mustHook(b, Options{}, allowLoopback, fmt.Sprintf(`
exports.onBeforeToken = async (event, api) => {
  const r = await fetch(%q);
  api.idToken.setClaim("tier", (await r.json()).tier);
};`, srv.URL))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := runToken(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoopbackBaseline is the same request made by plain Go.
func BenchmarkLoopbackBaseline(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"tier":"gold"}`))
	}))
	defer srv.Close()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
	}
}

// BenchmarkFreshRuntime is the design not taken: a new, unfrozen runtime
// per call (isolated by construction), with the same globals and program.
func BenchmarkFreshRuntime(b *testing.B) {
	h := compile(b, "testdata/trivial.js", HookOptions{})
	inv := trivialInvocation()
	b.ReportAllocs()
	for b.Loop() {
		vm := goja.New()
		vm.SetFieldNameMapper(goja.TagFieldNameMapper("json", true))
		rt := &runtime{vm: vm, hook: h}
		rt.objectFreeze, _ = goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("freeze"))
		if err := rt.installGlobals(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c := h.newCall(ctx, rt, inv)
		if err := c.run(); err != nil {
			b.Fatal(err)
		}
		c.finish()
		cancel()
	}
}

// BenchmarkTrivialHookParallel runs the trivial hook from 8 goroutines per
// CPU, as a busy server would: runs beyond the pool's idle runtimes must
// not each pay for building a frozen runtime.
func BenchmarkTrivialHookParallel(b *testing.B) {
	h := compile(b, "testdata/trivial.js", HookOptions{})
	inv := trivialInvocation()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Run(ctx, inv); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// trivialInvocation is the call every trivial-hook benchmark makes.
func trivialInvocation() Invocation {
	return Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:     tokenAPI,
	}
}

// BenchmarkMemoryGuard is what the guard adds to every run: entering and
// leaving its watch (the sampler reads the collector's figures every 2 ms
// on a goroutine of its own while runs are in progress).
func BenchmarkMemoryGuard(b *testing.B) {
	g := newMemoryGuard(DefaultMaxMemory)
	c := &call{vm: goja.New()}
	b.ReportAllocs()
	for b.Loop() {
		g.enter(c, &c.guard)
		g.leave(&c.guard)
	}
}

// BenchmarkReadHeap is one sample of the guard's sampler.
func BenchmarkReadHeap(b *testing.B) {
	var h heapState
	for b.Loop() {
		h = readHeap(h)
	}
}

// BenchmarkSecretsHook is the trivial hook reading a declared secret: what
// the secrets global costs on the common path.
func BenchmarkSecretsHook(b *testing.B) {
	h := mustHook(b, Options{}, HookOptions{Secrets: map[string]string{"K": "v", "L": "w"}}, `
exports.onBeforeToken = (event, api) => {
  api.idToken.setClaim("tier", secrets.K + secrets.L);
};`)
	inv := trivialInvocation()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Run(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSecretsRead reads a declared secret a thousand times a run: the
// cost of one read, magnified above the run's own.
func BenchmarkSecretsRead(b *testing.B) {
	h := mustHook(b, Options{}, HookOptions{Secrets: map[string]string{"K": "v"}}, `
exports.onBeforeToken = (event, api) => {
  let n = 0;
  for (let i = 0; i < 1000; i++) n += secrets.K.length;
  api.idToken.setClaim("n", n);
};`)
	inv := trivialInvocation()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Run(ctx, inv); err != nil {
			b.Fatal(err)
		}
	}
}
