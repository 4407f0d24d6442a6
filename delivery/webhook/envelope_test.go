package webhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/events"
)

func TestEnvelope(t *testing.T) {
	ev := events.New(events.AfterRegistration, "web-app", events.Request{ID: "r1", IP: "203.0.113.1"})
	ev.Time = time.Date(2026, 3, 4, 5, 6, 7, 123000000, time.UTC)
	ev.Data = map[string]any{"fields": map[string]any{"email": "ada@example.com"}}
	b, err := Envelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.Data["type"]; ok {
		t.Fatal("Envelope changed the caller's event")
	}
	var got struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "after_registration" || got.Timestamp != "2026-03-04T05:06:07.123Z" {
		t.Fatalf("envelope %s", b)
	}
	if got.Data["id"] != ev.ID || got.Data["application"] != "web-app" || got.Data["fields"] == nil {
		t.Fatalf("data %v", got.Data)
	}
	// The map form (an invocation's event) gives the same body.
	b2, err := Envelope(ev.Map())
	if err != nil || string(b2) != string(b) {
		t.Fatalf("from the map: %s, %v", b2, err)
	}
}

// Never a password: the events that carry one are refused at config time
// and at run time.
func TestSecretEventsRefused(t *testing.T) {
	ev := events.New(events.BeforePasswordValidation, "", events.Request{})
	ev.Data = map[string]any{"password": "hunter2"}
	ev.Secrets = []string{"hunter2"}
	if _, err := Envelope(ev); !errors.Is(err, ErrSecretEvent) {
		t.Fatalf("Envelope: %v", err)
	}
	if _, err := Envelope(map[string]any{"type": events.BeforePasswordValidation, "time": time.Now().Format(time.RFC3339)}); !errors.Is(err, ErrSecretEvent) {
		t.Fatalf("Envelope of the map: %v", err)
	}
	if err := CheckEvents([]string{events.AfterLogin, events.BeforePasswordValidation}); !errors.Is(err, ErrSecretEvent) {
		t.Fatalf("CheckEvents: %v", err)
	}
	for _, tt := range []struct {
		ids  []string
		want string
	}{
		{nil, "at least one event"},
		{[]string{"after_logn"}, `unknown event "after_logn"`},
		{[]string{"after_login", "after_login"}, "twice"},
	} {
		if err := CheckEvents(tt.ids); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%v: %v, want %q", tt.ids, err, tt.want)
		}
	}
	if err := CheckEvents([]string{events.AfterLogin, events.BeforeToken}); err != nil {
		t.Fatal(err)
	}
}

func TestEnvelopeBadInput(t *testing.T) {
	for _, in := range []any{nil, 42, map[string]any{}, map[string]any{"type": "after_login"}, map[string]any{"type": "after_login", "time": "yesterday"}} {
		if _, err := Envelope(in); err == nil {
			t.Fatalf("%v accepted", in)
		}
	}
}

func TestLimiter(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
	}{{"10/s", 10}, {"600/m", 10}, {"3600/h", 1}, {"5", 5}} {
		if got, err := ParseRate(tt.in); err != nil || got != tt.want {
			t.Fatalf("%q: %v %v", tt.in, got, err)
		}
	}
	for _, bad := range []string{"", "0/s", "-1/s", "10/d", "fast"} {
		if _, err := ParseRate(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	now := time.Now()
	l := NewLimiter(1, 2)
	if l.Take(now) != 0 || l.Take(now) != 0 {
		t.Fatal("the burst was not available")
	}
	if d := l.Take(now); d <= 0 {
		t.Fatal("a third attempt at once was allowed")
	}
	// A refused Take took no token: one second on, one is there.
	if d := l.Take(now.Add(time.Second)); d != 0 {
		t.Fatalf("after a second: wait %v", d)
	}
}
