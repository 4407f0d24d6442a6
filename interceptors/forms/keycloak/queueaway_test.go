package keycloak_test

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/delivery/redisqueue"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/keycloak"
	"github.com/idphooks/idphooks/redisconn"
)

// A queue that cannot keep a post's event (Redis down: nothing listens
// where it should) stops each such post, and the outage is logged once
// by the dispatcher, not once per post.
func TestQueueAwayIsNotLoggedPerPost(t *testing.T) {
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
	h := newHarness(t, "")
	core, logs := observer.New(zap.DebugLevel)
	disp := events.NewDispatcher(nil, events.Options{Outbox: q, Logger: zap.New(core).Named("events"),
		Receivers: []events.Receiver{{Name: "crm", Events: []string{events.AfterIdentification}}}})
	prof, err := keycloak.New("acme")
	if err != nil {
		t.Fatal(err)
	}
	h.ic, err = forms.New(forms.Config{Profile: prof, Directory: h.dir, Dispatcher: disp, Logger: zap.New(core).Named("forms"), MaxBody: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.post(t, loginPath, "", "username=jane&password=right-password&credentialId=")
	}
	if n := h.kc.posts(); n != 0 {
		t.Fatalf("%d posts reached the IdP with their event not kept", n)
	}
	var lines []string
	for _, e := range logs.FilterLevelExact(zap.ErrorLevel).All() {
		lines = append(lines, e.LoggerName+": "+e.Message)
	}
	if len(lines) != 1 || lines[0] != "events: events not queued: the requests that raise them are refused until the queue stores again" {
		t.Fatalf("error lines for one outage, want the dispatcher's alone: %q", lines)
	}
}
