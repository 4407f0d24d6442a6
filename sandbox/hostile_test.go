package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Every hostile hook must fail with a clear error of the right kind and
// leave the engine able to run the next hook.
func TestHostileHooksAreContained(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		opts   Options
		kind   error
		detail string
	}{
		{"infinite loop", `exports.onBeforeToken = () => { for (;;) {} }`,
			Options{Timeout: 50 * time.Millisecond}, ErrTimeout, ""},
		{"infinite async loop", `exports.onBeforeToken = async () => { for (;;) { await null } }`,
			Options{Timeout: 50 * time.Millisecond}, ErrTimeout, ""},
		{"deep recursion", `function f(n) { return f(n + 1) + 1 } exports.onBeforeToken = () => f(0)`,
			Options{}, ErrLimit, "call stack"},
		{"string doubling", `exports.onBeforeToken = () => { let s = "x"; for (;;) s += s }`,
			Options{MaxMemory: 32 << 20, Timeout: 5 * time.Second}, ErrLimit, "heap grew"},
		// A smaller bound and a longer timeout than the string's: under
		// -race on a loaded machine, goja pushes slowly enough that 32 MiB
		// took longer than 5 s and the timeout answered first.
		{"array growth", `exports.onBeforeToken = () => { const a = []; for (;;) a.push("abcdefgh" + a.length) }`,
			Options{MaxMemory: 8 << 20, Timeout: 30 * time.Second}, ErrLimit, "heap grew"},
		{"huge repeat", `exports.onBeforeToken = () => "x".repeat(2 ** 30)`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"huge padStart", `exports.onBeforeToken = () => "x".padStart(2 ** 30)`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"huge array fill", `exports.onBeforeToken = () => { const a = []; a.length = 1e9; a.fill(0) }`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"huge array constructor", `exports.onBeforeToken = () => new Array(1e9).join("x")`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"huge ArrayBuffer", `exports.onBeforeToken = () => new ArrayBuffer(2 ** 31)`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"ArrayBuffer through an instance's constructor", `exports.onBeforeToken = () => { const AB = new ArrayBuffer(0).constructor; return new AB(2 ** 31) }`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"Array through an instance's constructor", `exports.onBeforeToken = () => new ([].constructor)(1e9).join("x")`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"join with huge elements", `exports.onBeforeToken = () => new Array(1 << 18).fill("a").join("x".repeat(4096))`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"join of huge strings", `exports.onBeforeToken = () => { const s = "x".repeat(1 << 22); return [s, s, s, s, s, s, s, s].join("") }`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"JSON.stringify of huge strings", `exports.onBeforeToken = () => JSON.stringify(new Array(512).fill("x".repeat(1 << 22)))`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"replaceAll growth", `exports.onBeforeToken = () => "a".repeat(1 << 21).replaceAll("a", "bbbbbbbbbbbbbbbb")`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"toLocaleString on a fake huge array", `exports.onBeforeToken = () => Array.prototype.toLocaleString.call({ length: 2 ** 31 })`,
			Options{}, ErrThrown, "sandbox size limit"},
		{"throw number", `exports.onBeforeToken = () => { throw 42 }`,
			Options{}, ErrThrown, "non-Error thrown: number 42"},
		{"throw string", `exports.onBeforeToken = () => { throw "boom" }`,
			Options{}, ErrThrown, "non-Error thrown: string boom"},
		{"throw object", `exports.onBeforeToken = () => { throw { code: 7 } }`,
			Options{}, ErrThrown, `non-Error thrown: {"code":7}`},
		{"throw null", `exports.onBeforeToken = () => { throw null }`,
			Options{}, ErrThrown, "non-Error thrown: null"},
		{"throw undefined", `exports.onBeforeToken = async () => { throw undefined }`,
			Options{}, ErrThrown, "non-Error thrown: undefined"},
		{"throw with hostile getter", `exports.onBeforeToken = () => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { throw e } }); throw e }`,
			Options{}, ErrThrown, "unprintable"},
		{"error position", "exports.onBeforeToken = () => {\n  null.x\n}",
			Options{}, ErrThrown, "hook.js:2:"},
		{"rejected handler", `exports.onBeforeToken = async () => { await Promise.reject(new TypeError("nope")) }`,
			Options{}, ErrThrown, "TypeError: nope"},
		{"unhandled rejection", `exports.onBeforeToken = async () => { Promise.reject(new Error("floating")) }`,
			Options{}, ErrThrown, "unhandled promise rejection: Error: floating"},
		{"never settles", `exports.onBeforeToken = () => new Promise(() => {})`,
			Options{}, ErrUnsettled, ""},
		{"require fs", `exports.onBeforeToken = () => require("fs")`,
			Options{}, ErrThrown, `require("fs"): only files inside the hook's folder`},
		{"require node:fs", `exports.onBeforeToken = () => require("node:child_process")`,
			Options{}, ErrThrown, "only files inside the hook's folder"},
		{"require absolute", `exports.onBeforeToken = () => require("/etc/passwd")`,
			Options{}, ErrThrown, "only files inside the hook's folder"},
		{"require outside", `exports.onBeforeToken = () => require("../../../../../../etc/hostname")`,
			Options{}, ErrThrown, "require"},
		{"process", `exports.onBeforeToken = () => process.env.HOME`,
			Options{}, ErrThrown, "ReferenceError: process is not defined"},
		{"prototype pollution", `exports.onBeforeToken = () => { "use strict"; Object.prototype.polluted = 1 }`,
			Options{}, ErrThrown, "TypeError"},
		{"global leak", `exports.onBeforeToken = () => { "use strict"; globalThis.leak = 1 }`,
			Options{}, ErrThrown, "TypeError"},
		{"replace builtin", `exports.onBeforeToken = () => { "use strict"; JSON.parse = () => ({}) }`,
			Options{}, ErrThrown, "TypeError"},
		{"replace host global", `exports.onBeforeToken = () => { "use strict"; fetch = null }`,
			Options{}, ErrThrown, "TypeError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustHook(t, tt.opts, HookOptions{}, tt.src)
			start := time.Now()
			res, err := runToken(h)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want kind %v", err, tt.kind)
			}
			if res != nil {
				t.Fatalf("a failed run returned a result: %+v", res)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.detail)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Fatalf("took %v", d)
			}
			// The engine is still good for a sane hook.
			ok := mustHook(t, tt.opts, HookOptions{}, `exports.onBeforeToken = (e, api) => api.deny("fine")`)
			if _, err := runToken(ok); err != nil {
				t.Fatalf("next run: %v", err)
			}
		})
	}
}

// A failed run's earlier api calls are not returned.
func TestFailedRunReturnsNoOps(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = (e, api) => { api.idToken.setClaim("a", 1); throw new Error("late") }`)
	res, err := runToken(h)
	if err == nil || res != nil {
		t.Fatalf("res = %v, err = %v", res, err)
	}
}

// Nothing one call does to shared objects is visible to the next, on the
// same pooled runtime or another.
func TestCallsAreIsolated(t *testing.T) {
	h := mustHook(t, Options{PoolSize: 1}, HookOptions{}, `
let count = 0;
exports.onBeforeToken = (event, api) => {
  count++;
  const seen = [typeof ({}).polluted, typeof globalThis.leak, typeof Array.prototype.evil, String(count), event.user.sub];
  try { Object.prototype.polluted = 1 } catch (e) {}
  try { globalThis.leak = 1 } catch (e) {}
  try { Array.prototype.evil = 1 } catch (e) {}
  try { Object.defineProperty(globalThis, "hidden", { value: 1 }) } catch (e) {}
  try { api.deny = () => {} } catch (e) {}
  try { api.idToken.setClaim = () => {} } catch (e) {}
  leak2 = 1;
  event.user.sub = "changed";
  api.deny(seen.join(","));
};`)
	event := map[string]any{"user": map[string]any{"sub": "u1"}}
	for i := 0; i < 3; i++ {
		res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: event, API: tokenAPI})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Ops[0].Args[0]; got != "undefined,undefined,undefined,1,u1" {
			t.Fatalf("call %d saw %v", i, got)
		}
	}
	if event["user"].(map[string]any)["sub"] != "u1" {
		t.Fatal("the hook changed the caller's event")
	}
}

// The override idiom keeps working on frozen prototypes.
func TestErrorSubclassSetsName(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `
class CRMError extends Error { constructor(m) { super(m); this.name = "CRMError"; } }
exports.onBeforeToken = () => { throw new CRMError("down") };`)
	_, err := runToken(h)
	if err == nil || !strings.Contains(err.Error(), "CRMError: down") {
		t.Fatalf("err = %v", err)
	}
}

// Run returns at the deadline even when the context ends first.
func TestCanceledContextStopsRun(t *testing.T) {
	h := mustHook(t, Options{Timeout: 10 * time.Second}, HookOptions{}, `exports.onBeforeToken = () => { for (;;) {} }`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := h.Run(ctx, Invocation{Handler: "onBeforeToken", API: tokenAPI})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	const secret = "s3cr3t-Value-42"
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"API_KEY": secret}},
		`exports.onBeforeToken = () => { throw new Error("auth failed with " + secrets.API_KEY) }`)
	_, err := runToken(h)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("err = %v", err)
	}
	h = mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"API_KEY": secret}},
		`exports.onBeforeToken = () => { "use strict"; secrets.API_KEY = "x" }`)
	if _, err := runToken(h); !errors.Is(err, ErrThrown) {
		t.Fatalf("secrets writable: %v", err)
	}
}

func TestRequireInsideFolder(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `
const tiers = require("./lib/tiers");
const data = require("./data.json");
exports.onBeforeToken = (event, api) => api.idToken.setClaim("tier", tiers.of(event.user.sub) + data.suffix);`,
		"lib/tiers.js", `const util = require("./util.js"); exports.of = (sub) => util.upper(sub === "u1" ? "gold" : "basic");`,
		"lib/util.js", `exports.upper = (s) => s.toUpperCase();`,
		"data.json", `{"suffix": "!"}`)
	res, err := runToken(h)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Ops[0].Args[1]; got != "GOLD!" {
		t.Fatalf("claim = %v", got)
	}
}

func TestOpsLimit(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = (e, api) => { try { for (;;) api.idToken.setClaim("x", "y".repeat(1000)) } catch (e) {} }`)
	_, err := runToken(h)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckRejectsOp(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = (e, api) => {
  try { api.idToken.setClaim("sub", "x") } catch (err) { api.deny(err.name + ": " + err.message) }
}`)
	api := tokenAPI
	api.Check = func(op Op) error {
		if op.Method == "setClaim" && op.Args[0] == "sub" {
			return errors.New("sub is protected")
		}
		return nil
	}
	res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", API: api})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ops) != 1 || res.Ops[0].Args[0] != "TypeError: api.idToken.setClaim: sub is protected" {
		t.Fatalf("ops = %+v", res.Ops)
	}
}
