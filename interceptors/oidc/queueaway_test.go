package oidc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/delivery/redisqueue"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/redisconn"
)

// A queue that cannot keep events (Redis down: nothing listens where it
// should) makes each token and userinfo answer whose event it must keep a
// 503, and the outage is logged by whoever saw it first (the Redis
// connection, the dispatcher), once: the interceptor adds no line per
// request.
func TestQueueAwayIsNotLoggedPerRequest(t *testing.T) {
	idp := newTestIdP(t)
	var cfg Config
	h := newHarness(t, idp, []hookSpec{
		{src: `exports.onBeforeToken = (e, api) => { api.accessToken.setClaim("tier", "gold") }`},
		{src: `exports.onBeforeUserinfo = (e, api) => {}`},
	}, func(c *Config) { cfg = *c })
	tokens := decodeJSON(t, h.do(tokenRequest(codeForm())).Body.Bytes())
	at, _ := tokens["access_token"].(string)
	if at == "" {
		t.Fatalf("token answer: %v", tokens)
	}

	conn, err := redisconn.Open(redisconn.Options{Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, err := redisqueue.New(conn, redisqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	core, logs := observer.New(zap.DebugLevel)
	cfg.Logger = zap.New(core).Named("oidc")
	cfg.Dispatcher = events.NewDispatcher(h.hooks, events.Options{Outbox: q, Logger: zap.New(core).Named("events"),
		Receivers: []events.Receiver{{Name: "crm", Events: []string{events.BeforeToken, events.BeforeUserinfo}}}})
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.ic = ic
	for range 3 {
		if w := h.do(tokenRequest(codeForm())); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
			t.Fatalf("token with the queue away: %d %s", w.Code, w.Body)
		}
		r := httptest.NewRequest(http.MethodGet, "http://idp.test/userinfo", nil)
		r.Header.Set("Authorization", "Bearer "+at)
		if w := h.do(r); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "temporarily_unavailable") {
			t.Fatalf("userinfo with the queue away: %d %s", w.Code, w.Body)
		}
	}
	var lines []string
	for _, e := range logs.FilterLevelExact(zap.ErrorLevel).All() {
		lines = append(lines, e.LoggerName+": "+e.Message)
	}
	if len(lines) != 1 || lines[0] != "events: events not queued: the requests that raise them are refused until the queue stores again" {
		t.Fatalf("error lines for one outage, want the dispatcher's alone: %q", lines)
	}
}
