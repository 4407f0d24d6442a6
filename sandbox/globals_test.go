package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestConsoleLogsWithFieldsAndRedacts(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := mustHook(t, Options{}, HookOptions{Name: "claims", Logger: zap.New(core), Secrets: map[string]string{"K": "hunter2-secret"}}, `
exports.onBeforeToken = (event) => { console.log("user", event.user.sub, { k: secrets.K }); console.error(new Error("bad")) };`)
	_, err := h.Run(context.Background(), Invocation{
		Handler:   "onBeforeToken",
		Event:     map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}},
		API:       tokenAPI,
		RequestID: "req-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("entries = %v", entries)
	}
	e := entries[0]
	if e.Message != `user u1 {"k":"[REDACTED]"}` {
		t.Fatalf("message = %q", e.Message)
	}
	f := e.ContextMap()
	if f["hook"] != "claims" || f["event"] != "before_token" || f["request_id"] != "req-1" {
		t.Fatalf("fields = %v", f)
	}
	if entries[1].Level != zap.ErrorLevel || entries[1].Message != "Error: bad" {
		t.Fatalf("second = %+v", entries[1])
	}
}

func TestConsoleFloodIsCapped(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := mustHook(t, Options{Timeout: 10 * time.Second}, HookOptions{Logger: zap.New(core)}, `
const line = "x".repeat(100000);
exports.onBeforeToken = () => { for (let i = 0; i < 1000; i++) console.log(line) };`)
	if _, err := runToken(h); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n != maxLogLines {
		t.Fatalf("%d lines", n)
	}
	for _, e := range logs.All() {
		if len(e.Message) > maxLogLine+8 {
			t.Fatalf("line of %d bytes", len(e.Message))
		}
	}
	if last := logs.All()[maxLogLines-1]; !strings.Contains(last.Message, "truncated") {
		t.Fatalf("last = %q", last.Message)
	}
}

func TestCacheAcrossCalls(t *testing.T) {
	src := `
exports.onBeforeToken = async (event, api) => {
  const hit = await cache.get("k");
  if (hit) { api.deny("hit " + hit.n); return }
  await cache.set("k", { n: 1 }, { ttl: 60 });
  api.deny("miss");
};`
	e, _ := New(Options{})
	a, err := e.Compile(writeHook(t, src), HookOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Compile(writeHook(t, src), HookOptions{Name: "b"})
	for _, want := range []string{"miss", "hit 1"} {
		res, err := runToken(a)
		if err != nil || res.Ops[0].Args[0] != want {
			t.Fatalf("a: %v %v, want %s", res, err, want)
		}
	}
	// Another hook does not see a's entries.
	if res, err := runToken(b); err != nil || res.Ops[0].Args[0] != "miss" {
		t.Fatalf("b: %v %v", res, err)
	}
}

func TestCrypto(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `
exports.onBeforeToken = (event, api) => {
  api.deny([
    crypto.digest("SHA-256", "abc"),
    crypto.hmac("SHA-256", "key", "The quick brown fox jumps over the lazy dog"),
    crypto.randomUUID().length,
    crypto.timingSafeEqual("a", "a"),
    crypto.digest("SHA-512", "abc", "base64url").length,
  ].join(" "));
};`)
	res, err := runToken(h)
	if err != nil {
		t.Fatal(err)
	}
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad " +
		"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 36 true 86"
	if got := res.Ops[0].Args[0]; got != want {
		t.Fatalf("got %v", got)
	}
}

// Secrets are hidden in every form they take in a log line or an error:
// JSON-escaped (a PEM key logged inside an object), URL-escaped, and cut at
// the length limit (redacted before the cut, so no prefix shows).
func TestRedactionCoversEscapedAndCutForms(t *testing.T) {
	pem := "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END KEY-----"
	core, logs := observer.New(zap.DebugLevel)
	h := mustHook(t, Options{}, HookOptions{Logger: zap.New(core), Secrets: map[string]string{"PEM": pem, "T": "tok_ABCDEFGH12345"}}, `
exports.onBeforeToken = () => {
  console.log({ key: secrets.PEM });
  console.log(encodeURIComponent(secrets.PEM));
  console.log("x".repeat(4090) + secrets.T);
  throw { key: secrets.PEM, t: secrets.T };
};`)
	_, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: map[string]any{}, API: tokenAPI})
	if err == nil {
		t.Fatal("the hook threw")
	}
	texts := []string{err.Error()}
	for _, e := range logs.All() {
		texts = append(texts, e.Message)
	}
	for _, s := range texts {
		for _, leak := range []string{"MIIBOgIBAAJBAKj34", "tok_A", "BEGIN%20KEY", "BEGIN+KEY"} {
			if strings.Contains(s, leak) {
				t.Errorf("secret piece %q in %q", leak, s[:min(len(s), 200)])
			}
		}
	}
}

// A console line carries the hook field once, and a failed run adds no
// line of its own: its caller logs the failure, once (see Runner).
func TestFailedRunLogsOnlyTheHooksOwnLines(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e, err := New(Options{Logger: zap.New(core).Named("hooks")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.Compile(writeHook(t, `exports.onBeforeToken = () => { console.warn("about to fail"); throw new Error("boom") };`),
		HookOptions{Name: "org.js", Logger: zap.New(core).Named("hook")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runToken(h); !errors.Is(err, ErrThrown) || Kind(err) != "thrown" {
		t.Fatalf("err = %v (%s)", err, Kind(err))
	}
	if logs.Len() != 1 || logs.All()[0].Message != "about to fail" {
		t.Fatalf("lines %v", logs.All())
	}
	n := 0
	for _, f := range logs.All()[0].Context {
		if f.Key == "hook" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d hook fields", n)
	}
}
