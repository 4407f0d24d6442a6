package saml

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/delivery/redisqueue"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/redisconn"
)

// A queue that cannot keep a login's event (Redis down: nothing listens
// where it should) refuses each such login with a retry page, and the
// outage is logged once by the dispatcher, not once per login (nor as
// missing metadata).
func TestQueueAwayIsNotLoggedPerLogin(t *testing.T) {
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
	for _, event := range []string{events.BeforeSAMLAssertion, events.AfterLogin} {
		core, logs := observer.New(zap.DebugLevel)
		h := newHarness(t, "", func(c *Config) {
			c.Logger = zap.New(core).Named("saml")
			c.Dispatcher = events.NewDispatcher(nil, events.Options{Outbox: q, Logger: zap.New(core).Named("events"),
				Receivers: []events.Receiver{{Name: "crm", Events: []string{event}}}})
		})
		h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), ""))
		for range 3 {
			w := h.do(t, "POST", "/x")
			if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "try again") || strings.Contains(w.Body.String(), "SAMLResponse") {
				t.Fatalf("%s: login with the queue away: %d %s", event, w.Code, w.Body)
			}
		}
		var lines []string
		for _, e := range logs.FilterLevelExact(zap.ErrorLevel).All() {
			lines = append(lines, e.LoggerName+": "+e.Message)
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "events: events not queued") {
			t.Errorf("%s: error lines for one outage, want the dispatcher's alone: %q", event, lines)
		}
	}
}
