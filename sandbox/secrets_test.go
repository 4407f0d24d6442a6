package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestUndeclaredSecretThrows(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"K": "k-value-1"}}, `
exports.onBeforeToken = (event, api) => {
  api.idToken.setClaim("x", secrets.CRM_TOKEN);
};`)
	res, err := runToken(h)
	if !errors.Is(err, ErrThrown) || res != nil {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	const want = `TypeError: secrets.CRM_TOKEN is not declared: add "secret CRM_TOKEN <value>" to the hook's block` +
		` (or "secret": {"CRM_TOKEN": "..."} in a test fixture) (hook.js:3:37)`
	if got := err.(*Error).Detail; got != want {
		t.Fatalf("Detail = %q\nwant     %q", got, want)
	}

	// A name that cannot follow a dot is quoted; one that a Caddyfile
	// could not hold as it is gets no line to copy.
	h = mustHook(t, Options{}, HookOptions{}, `
exports.onBeforeToken = (event, api) => {
  for (const k of ["crm-token", "a b"]) try { secrets[k] } catch (e) { api.deny(e.message) }
};`)
	res, err = runToken(h)
	if err != nil || len(res.Ops) != 2 ||
		res.Ops[0].Args[0] != `secrets["crm-token"] is not declared: add "secret crm-token <value>" to the hook's block (or "secret": {"crm-token": "..."} in a test fixture)` ||
		res.Ops[1].Args[0] != `secrets["a b"] is not declared in the hook's block` {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
}

// Probing the object, converting it, awaiting it and reading declared or
// inherited names never throw.
func TestSecretsProbesDoNotThrow(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"K": "v"}}, `
exports.onBeforeToken = async (event, api) => {
  console.log(secrets);
  api.deny([
    "K" in secrets, "CRM_TOKEN" in secrets, Object.keys(secrets).join(), typeof secrets,
    String(secrets), Object.prototype.toString.call(secrets), JSON.stringify(secrets),
    secrets[Symbol.toPrimitive], secrets[Symbol.toStringTag], (await secrets) === secrets,
    secrets.hasOwnProperty("K"), JSON.stringify({ ...secrets }), secrets.K,
  ].map(String).join(" "));
};`)
	res, err := runToken(h)
	if err != nil {
		t.Fatal(err)
	}
	const want = `true false K object [object Object] [object Object] {"K":"v"} undefined undefined true true {"K":"v"} v`
	if got := res.Ops[0].Args[0]; got != want {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// secrets stays read-only, and nothing one run tries on it reaches the
// next run of the same pooled runtime.
func TestSecretsStayFrozenAcrossRuns(t *testing.T) {
	h := mustHook(t, Options{PoolSize: 1}, HookOptions{Secrets: map[string]string{"K": "v"}}, `
exports.onBeforeToken = (event, api) => {
  const tried = [];
  for (const f of [
    () => { secrets.K = "x" }, () => { secrets.NEW = "x" }, () => { delete secrets.K },
    () => Object.defineProperty(secrets, "NEW", { value: "x" }),
    () => Object.setPrototypeOf(secrets, { NEW: "x" }),
    () => { Object.getPrototypeOf(secrets).NEW = "x" },
    () => Object.defineProperty(Object.getPrototypeOf(secrets), "NEW", { value: "x" }),
  ]) {
    try { f(); tried.push("done") } catch (e) { tried.push(e.name) }
  }
  api.deny(tried.join() + " " + secrets.K + " " + ("NEW" in secrets) + " " + Object.isFrozen(secrets));
};`)
	for i := 0; i < 3; i++ {
		res, err := runToken(h)
		if err != nil {
			t.Fatal(err)
		}
		// Sloppy code: assignments and delete fail silently, the rest throw.
		if got, want := res.Ops[0].Args[0], "done,done,done,TypeError,TypeError,done,TypeError v false true"; got != want {
			t.Fatalf("run %d: %v, want %v", i, got, want)
		}
	}
	h = mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"K": "v"}},
		`exports.onBeforeToken = () => { "use strict"; secrets.NEW = "x" }`)
	if _, err := runToken(h); !errors.Is(err, ErrThrown) || !strings.Contains(err.Error(), "not extensible") {
		t.Fatalf("strict write: %v", err)
	}
}

// The name read is redacted like any text a failure carries: a hook that
// indexes secrets by a secret's value does not leak it.
func TestUndeclaredSecretMessageIsRedacted(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{Secrets: map[string]string{"K": "hunter2-secret"}},
		`exports.onBeforeToken = () => secrets[secrets.K]`)
	_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", API: tokenAPI})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), `secrets["[REDACTED]"] is not declared`) {
		t.Fatalf("err = %v", err)
	}
}
