package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/delivery"
)

// memOutbox keeps what it is given; fail makes Enqueue refuse.
type memOutbox struct {
	mu   sync.Mutex
	msgs []delivery.Message
	fail error
}

func (o *memOutbox) Enqueue(_ context.Context, msgs ...delivery.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.msgs = append(o.msgs, msgs...)
	return nil
}

func TestOutboxTakesAsyncHooksAndReceivers(t *testing.T) {
	async := &runner{handlers: on("onAfterLogin")}
	sync := &runner{handlers: on("onBeforeToken")}
	ob := &memOutbox{}
	d := NewDispatcher([]*Hook{{Name: "notify.js", Runner: async}, {Name: "claims.js", Runner: sync}}, Options{
		Outbox: ob,
		Receivers: []Receiver{
			{Name: "https://crm.example/events", Events: []string{AfterLogin, BeforeToken}},
			{Name: "https://other.example/events", Events: []string{AfterLogin}, Applications: []string{"other-app"}},
		},
	})
	ev := New(AfterLogin, "web", Request{ID: "r1"})
	ev.User = map[string]any{"sub": "alice"}
	if out := d.Dispatch(context.Background(), ev, nil); out.Err != nil {
		t.Fatal(out.Err)
	}
	if async.calls.Load() != 0 {
		t.Fatal("the async hook ran in process with an outbox")
	}
	if len(ob.msgs) != 2 || ob.msgs[0].Receiver != "hook:notify.js" || ob.msgs[1].Receiver != "https://crm.example/events" {
		t.Fatalf("queued %+v", ob.msgs)
	}
	var env struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(ob.msgs[0].Payload, &env); err != nil || env.Type != AfterLogin || env.Data["application"] != "web" || env.Timestamp == "" {
		t.Fatalf("envelope %s (%v)", ob.msgs[0].Payload, err)
	}
	if ob.msgs[0].ID == "" || ob.msgs[0].ID == ob.msgs[1].ID || env.Data["id"] != ev.ID {
		t.Fatalf("message ids %q %q, event id in the payload %v", ob.msgs[0].ID, ob.msgs[1].ID, env.Data["id"])
	}

	// A sync event a notify receiver subscribes to: told after the hooks.
	ob.msgs = nil
	if out := d.Dispatch(context.Background(), New(BeforeToken, "web", Request{}), nil); out.Err != nil || sync.calls.Load() != 1 {
		t.Fatalf("%v, sync ran %d", out.Err, sync.calls.Load())
	}
	if len(ob.msgs) != 1 || ob.msgs[0].Event != BeforeToken {
		t.Fatalf("queued %+v", ob.msgs)
	}

	// No hook, a receiver only: the interceptors must raise the event.
	d = NewDispatcher(nil, Options{Outbox: ob, Receivers: []Receiver{{Name: "r", Events: []string{AfterRegistration}, Applications: []string{"web"}}}})
	if !d.WantsEvent(AfterRegistration) || !d.Wants(AfterRegistration, "web") || d.Wants(AfterRegistration, "other") || !d.HasFilteredHook(AfterRegistration) {
		t.Fatal("Wants does not count receivers")
	}
	ob.msgs = nil
	d.Dispatch(context.Background(), New(AfterRegistration, "web", Request{}), nil)
	d.Dispatch(context.Background(), New(AfterRegistration, "other", Request{}), nil)
	if len(ob.msgs) != 1 {
		t.Fatalf("queued %+v", ob.msgs)
	}
}

// A refused enqueue fails each request that raised the event; the
// episode is logged once when it starts and once when it ends.
func TestOutboxRefusalFailsTheRequest(t *testing.T) {
	ob := &memOutbox{fail: errors.New("disk full")}
	core, logs := observer.New(zap.DebugLevel)
	d := NewDispatcher([]*Hook{{Name: "n.js", Runner: &runner{handlers: on("onAfterLogin")}}}, Options{Outbox: ob, Logger: zap.New(core)})
	for range 5 {
		if out := d.Dispatch(context.Background(), New(AfterLogin, "web", Request{}), nil); out.Err == nil {
			t.Fatal("a refused enqueue went unnoticed")
		}
	}
	ob.fail = nil
	for range 2 {
		if out := d.Dispatch(context.Background(), New(AfterLogin, "web", Request{}), nil); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	var lines []string
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "queue") {
			lines = append(lines, e.Level.String()+" "+e.Message)
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "error events not queued") || lines[1] != "warn events are queued again" {
		t.Fatalf("log lines for one episode: %q", lines)
	}
}

func TestOutboxNeverTakesSecretEvents(t *testing.T) {
	ob := &memOutbox{}
	d := NewDispatcher([]*Hook{{Name: "m.js", Mode: Async, Runner: &runner{handlers: on("onBeforePasswordValidation")}}}, Options{
		Outbox: ob, Receivers: []Receiver{{Name: "r", Events: []string{BeforePasswordValidation}}}})
	ev := New(BeforePasswordValidation, "web", Request{})
	ev.Data = map[string]any{"password": "pw"}
	d.Dispatch(context.Background(), ev, nil)
	if len(ob.msgs) != 0 {
		t.Fatalf("a password event was queued: %+v", ob.msgs)
	}
}

func TestHookSenderRunsTheQueuedEvent(t *testing.T) {
	r := &runner{handlers: on("onAfterLogin")}
	h := &Hook{Name: "n.js", Runner: r}
	ob := &memOutbox{}
	d := NewDispatcher([]*Hook{h}, Options{Outbox: ob})
	ev := New(AfterLogin, "web", Request{ID: "req-7"})
	d.Dispatch(context.Background(), ev, nil)
	res := d.HookSender(h).Send(context.Background(), ob.msgs[0])
	if res.Err != nil || r.calls.Load() != 1 || r.lastInv.Handler != "onAfterLogin" || r.lastInv.Event["application"] != "web" || r.lastInv.RequestID != "req-7" {
		t.Fatalf("%v, calls %d, inv %+v", res.Err, r.calls.Load(), r.lastInv)
	}
	r.err = errors.New("crm down")
	if res := d.HookSender(h).Send(context.Background(), ob.msgs[0]); res.Err == nil {
		t.Fatal("a failed run is not a failed attempt")
	}
	bad := ob.msgs[0]
	bad.Payload = []byte("not json")
	if res := d.HookSender(h).Send(context.Background(), bad); res.Err == nil {
		t.Fatal("garbage was delivered")
	}
}
