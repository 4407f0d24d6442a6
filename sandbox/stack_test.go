package sandbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// runError runs onBeforeToken and returns its *Error, failing the test if
// the run did not fail with one.
func runError(t *testing.T, h *Hook, api API) *Error {
	t.Helper()
	_, err := h.Run(context.Background(), Invocation{
		Handler: "onBeforeToken",
		Event:   map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:     api,
	})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want a *Error", err)
	}
	if dir := filepath.Dir(h.Path()); strings.Contains(e.Error(), dir) || strings.Contains(e.Stack, dir) {
		t.Errorf("the error names the hook's folder %s:\n%v\n%s", dir, e, e.Stack)
	}
	return e
}

func TestAsyncTypeErrorCarriesPositionAndStack(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = async (event, api) => {
  const t = event.user.profile.tier;
};`)
	e := runError(t, h, tokenAPI)
	const want = "TypeError: Cannot read property 'tier' of undefined (hook.js:2:32)"
	if e.Detail != want || !strings.HasSuffix(e.Error(), want) {
		t.Fatalf("Detail = %q\nError() = %q", e.Detail, e.Error())
	}
	if e.Stack != "at <anonymous> (hook.js:2:32)" || Stack(e) != e.Stack {
		t.Fatalf("Stack = %q", e.Stack)
	}
}

// After an await, the stack still leads from the required file back into
// the hook; a throw on line 1 is placed by the file's own columns.
func TestRequiredModuleFramesInStack(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `const lib = require("./lib/util.js");
exports.onBeforeToken = async (event) => {
  await null;
  lib.tier(event);
};`, "lib/util.js", `exports.tier = function tier(e) {
  return e.user.profile.tier;
};
exports.boom = () => { throw new RangeError("boom") };`)
	e := runError(t, h, tokenAPI)
	if !strings.HasSuffix(e.Detail, "(lib/util.js:2:25)") {
		t.Fatalf("Detail = %q", e.Detail)
	}
	if want := "at tier (lib/util.js:2:25)\nat <anonymous> (hook.js:4:11)"; e.Stack != want {
		t.Fatalf("Stack = %q, want %q", e.Stack, want)
	}

	h = mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = () => require("./lib/util.js").boom();`,
		"lib/util.js", `exports.boom = () => { throw new RangeError("boom") };`)
	e = runError(t, h, tokenAPI)
	if e.Detail != "RangeError: boom (lib/util.js:1:30)" {
		t.Fatalf("Detail = %q", e.Detail)
	}
	if want := "at <anonymous> (lib/util.js:1:30)\nat <anonymous> (hook.js:1:60)"; e.Stack != want {
		t.Fatalf("Stack = %q, want %q", e.Stack, want)
	}
}

// A required file that does not parse is named like a frame, at its own
// line and column.
func TestRequiredSyntaxErrorIsPlaced(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = () => {
  require("./lib/a.js");
};`, "lib/a.js", "exports.x = (;")
	e := runError(t, h, tokenAPI)
	const want = `TypeError: require("./lib/a.js"): lib/a.js:1:14: SyntaxError: Unexpected token ;`
	if !strings.HasPrefix(e.Detail, want) || !strings.HasSuffix(e.Detail, "(hook.js:2:10)") {
		t.Fatalf("Detail = %q", e.Detail)
	}
}

// Each way a run can throw or reject names the place in the hook.
func TestEveryThrowCarriesPosition(t *testing.T) {
	check := tokenAPI
	check.Check = func(op Op) error { return errors.New(`claim "sub" is protected`) }
	for _, tc := range []struct {
		name, src string
		api       API
		detail    string
	}{
		{"sync Error", `exports.onBeforeToken = () => {
  throw new Error("no");
};`, tokenAPI, "Error: no (hook.js:2:9)"},
		{"sync non-Error", `exports.onBeforeToken = () => {
  throw 42;
};`, tokenAPI, "non-Error thrown: number 42 (hook.js:2:3)"},
		{"rejected after await", `exports.onBeforeToken = async () => {
  await null;
  null.x;
};`, tokenAPI, "TypeError: Cannot read property 'x' of undefined (hook.js:3:8)"},
		{"unhandled rejection", `exports.onBeforeToken = () => {
  Promise.reject(new RangeError("late"));
};`, tokenAPI, "unhandled promise rejection: RangeError: late (hook.js:2:18)"},
		{"api check", `exports.onBeforeToken = (event, api) => {
  api.idToken.setClaim("sub", "x");
};`, check, `TypeError: api.idToken.setClaim: claim "sub" is protected (hook.js:2:23)`},
		{"async host work", `exports.onBeforeToken = async () => {
  await fetch("http://127.0.0.1:1/");
};`, tokenAPI, "(hook.js:2:14)"},
		{"prelude guard", `exports.onBeforeToken = () => {
  "x".repeat(1e9);
};`, tokenAPI, "RangeError: String.prototype.repeat exceeds the sandbox size limit (hook.js:2:13)"},
		// goja's exception for a thrown Error has the stack it was made
		// with, whatever the hook left in its stack property.
		{"stack replaced", `exports.onBeforeToken = () => {
  const e = new Error("x");
  e.stack = "garbage";
  throw e;
};`, tokenAPI, "Error: x (hook.js:2:13)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := runError(t, mustHook(t, Options{}, HookOptions{}, tc.src), tc.api)
			if !strings.HasSuffix(e.Detail, tc.detail) {
				t.Fatalf("Detail = %q, want it to end %q", e.Detail, tc.detail)
			}
			pos := tc.detail[strings.LastIndex(tc.detail, "(")+1 : len(tc.detail)-1]
			if !strings.HasPrefix(e.Stack, "at <anonymous> ("+pos+")") {
				t.Fatalf("Stack = %q, want it to start with %s", e.Stack, pos)
			}
		})
	}
}

// A value rejected by an async function has no stack goja keeps: the
// failure says so without inventing a place.
func TestRejectedNonErrorHasNoPosition(t *testing.T) {
	e := runError(t, mustHook(t, Options{}, HookOptions{}, `exports.onBeforeToken = async () => { throw "plain" };`), tokenAPI)
	if e.Detail != "non-Error thrown: string plain" || e.Stack != "" {
		t.Fatalf("Detail = %q, Stack = %q", e.Detail, e.Stack)
	}
}

func TestStackIsRedactedAndBounded(t *testing.T) {
	const secret = "s3cr3t-Value-42"
	// A rejection's frames come from the stack property, which the hook
	// may have rewritten.
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"K": secret}}, `
exports.onBeforeToken = async () => {
  const e = new Error("auth failed with " + secrets.K);
  e.stack = "Error\n\tat " + secrets.K + " (" + __filename + ":7:3(1))";
  throw e;
};`)
	e := runError(t, h, tokenAPI)
	if e.Detail != "Error: auth failed with [REDACTED] (hook.js:7:3)" || e.Stack != "at [REDACTED] (hook.js:7:3)" {
		t.Fatalf("Detail = %q\nStack = %q", e.Detail, e.Stack)
	}

	// Deep recursion: the innermost frames, capped; a long message is
	// cut but keeps the position.
	h = mustHook(t, Options{}, HookOptions{}, `
function deep(n) { if (n === 0) throw new Error("x".repeat(5000)); return deep(n - 1) + 1 }
exports.onBeforeToken = () => deep(100);`)
	e = runError(t, h, tokenAPI)
	if !strings.HasSuffix(e.Detail, "… (hook.js:2:39)") || len(e.Detail) > maxDetail+8 {
		t.Fatalf("Detail = %q (%d bytes)", e.Detail, len(e.Detail))
	}
	lines := strings.Split(e.Stack, "\n")
	if len(lines) != maxFrames || lines[0] != "at deep (hook.js:2:39)" || lines[1] != "at deep (hook.js:2:79)" || len(e.Stack) > maxStack {
		t.Fatalf("%d frames:\n%s", len(lines), e.Stack)
	}
}

func TestStackOfOtherErrors(t *testing.T) {
	e := &Error{Hook: "h", Handler: "onX", Kind: ErrThrown, Stack: "at f (h.js:1:1)"}
	if Stack(fmt.Errorf("event: %w", e)) != "at f (h.js:1:1)" || Stack(errors.New("x")) != "" || Stack(nil) != "" {
		t.Fatal("Stack does not find the *Error")
	}
}

// A throwing getter read from Go (on module.exports) fails the load or the
// run like any throw, instead of panicking.
func TestThrowingExportGetter(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Compile(writeHook(t, `Object.defineProperty(exports, "onBeforeToken", { get() { throw new Error("getter") }, enumerable: true });`), HookOptions{})
	if !errors.Is(err, ErrThrown) || !strings.Contains(err.Error(), "Error: getter (hook.js:1:") {
		t.Fatalf("err = %v", err)
	}
	// Not enumerable: the load at Compile reads every own property (a
	// handler hidden that way is still one), so it fails there too.
	_, err = e.Compile(writeHook(t, `Object.defineProperty(exports, "onBeforeToken", { get() { throw new Error("getter") } });`), HookOptions{})
	if !errors.Is(err, ErrThrown) || !strings.Contains(err.Error(), "Error: getter (hook.js:1:") {
		t.Fatalf("err = %v", err)
	}
}
