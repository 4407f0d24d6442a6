package sandbox

import (
	"context"
	"testing"
)

// The event object reads like a plain object whatever the hook does with
// it — keys in a stable order, JSON, spread, in, assignment, deletion —
// and what one run changes never reaches the next.
func TestEventObjectSemantics(t *testing.T) {
	h := mustHook(t, Options{}, HookOptions{}, `
exports.onBeforeToken = (event, api) => {
  const before = JSON.stringify(event);
  const keys = Object.keys(event).join(",");
  const copy = { ...event };
  const had = "user" in event && !("nope" in event);
  event.user.sub = "changed";
  event.added = 1;
  delete event.type;
  api.idToken.setClaim("r", [before, keys, Object.keys(copy).length, had, event.user.sub, event.added, event.type === undefined, Object.keys(event).join(",")].join("|"));
};`)
	ev := map[string]any{"type": "before_token", "user": map[string]any{"sub": "u1"}, "client_id": "web"}
	var first string
	for run := range 3 {
		res, err := h.Run(context.Background(), Invocation{Handler: "onBeforeToken", Event: ev, API: tokenAPI})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := res.Ops[0].Args[1].(string)
		want := `{"client_id":"web","type":"before_token","user":{"sub":"u1"}}|client_id,type,user|3|true|changed|1|true|client_id,user,added`
		if got != want {
			t.Fatalf("run %d:\n got %s\nwant %s", run, got, want)
		}
		if run == 0 {
			first = got
		} else if got != first {
			t.Fatalf("run %d saw another event than the first: %s", run, got)
		}
	}
	if ev["user"].(map[string]any)["sub"] != "u1" {
		t.Error("the hook changed the Go event")
	}
}
