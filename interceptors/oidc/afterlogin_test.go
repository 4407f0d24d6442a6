package oidc

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// after_login is raised for the code grant, with the person of the
// verified ID token and the client, and for no refresh or client grant.
func TestAfterLoginOnCodeGrant(t *testing.T) {
	var cfg Config
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: `exports.onAfterLogin = async (event) => {};`}}, func(c *Config) { cfg = *c })
	got := make(chan *events.Event, 8)
	cfg.Dispatcher = events.NewDispatcher(h.hooks, events.Options{OnAsync: func(_ string, ev *events.Event, _ *sandbox.Result, err error) {
		if err != nil {
			t.Errorf("async run: %v", err)
		}
		got <- ev
	}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("code grant: %d %s", w.Code, w.Body)
	}
	select {
	case ev := <-got:
		m := ev.Map()
		user, _ := m["user"].(map[string]any)
		if ev.Type != events.AfterLogin || ev.Application != "web" || m["protocol"] != "oidc" || m["grant_type"] != "authorization_code" || user["sub"] == nil {
			t.Fatalf("event %v", m)
		}
		if _, ok := user["nonce"]; ok {
			t.Fatal("protocol claims in user")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no after_login")
	}
	for _, form := range []url.Values{
		{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}},
		{"grant_type": {"client_credentials"}},
	} {
		h.do(tokenRequest(form))
	}
	select {
	case ev := <-got:
		t.Fatalf("after_login raised for %v", ev.Map()["grant_type"])
	case <-time.After(200 * time.Millisecond):
	}
}

// refusingOutbox cannot keep events (a full disk).
type refusingOutbox struct{}

func (refusingOutbox) Enqueue(context.Context, ...delivery.Message) error {
	return errors.New("queue: no space left on device")
}

// A login whose after_login cannot be queued is not handed out: 503,
// retryable, rather than tokens with an event lost.
func TestAfterLoginNotQueuedFailsTheTokenAnswer(t *testing.T) {
	var cfg Config
	h := newHarness(t, newTestIdP(t), []hookSpec{{src: `exports.onAfterLogin = async () => {};`}}, func(c *Config) { cfg = *c })
	cfg.Dispatcher = events.NewDispatcher(h.hooks, events.Options{Outbox: refusingOutbox{}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	w := h.do(tokenRequest(codeForm()))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
