package secevent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/boltqueue"
	"github.com/idphooks/idphooks/delivery/secevent"
	"github.com/idphooks/idphooks/egress"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/internal/setreceiver"
)

const issuer = "https://auth.example/realms/acme"

func issuerFunc(context.Context) (string, error) { return issuer, nil }

// queued is the message the dispatcher queues for a receiver of ev.
func queued(t *testing.T, ev *events.Event, receiver string) delivery.Message {
	t.Helper()
	body, err := events.Envelope(ev, ev.Map())
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Message{ID: delivery.NewID(), Receiver: receiver, Event: ev.Type, Time: ev.Time, Payload: body}
}

func event(typ string, user map[string]any, data map[string]any) *events.Event {
	ev := events.New(typ, "web-app", events.Request{ID: "req-1", IP: "203.0.113.9", Method: "GET", Host: "auth.example", Path: "/logout"})
	ev.User, ev.Data = user, data
	return ev
}

func newSender(t *testing.T, c secevent.Config, tr *transmitter) *secevent.Sender {
	t.Helper()
	if c.AllowHosts == nil {
		c.AllowHosts = []string{"127.0.0.1"}
	}
	c.Issuer, c.Signer = issuerFunc, tr.keys
	s, err := secevent.NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Each event with a Shared Signals meaning arrives as a SET that a
// receiver verifies with go-jose against the published JWKS: typ
// secevent+jwt, idphooks' key, iss, aud, jti = the message id, txn = the
// event id, the CAEP/RISC event type and its payload, the subject as
// configured.
func TestSETsVerifiedByGoJose(t *testing.T) {
	alice := map[string]any{"sub": "u-1", "email": "ada@example.com", "email_verified": true}
	tests := []struct {
		name    string
		alg     string
		subject string
		ev      *events.Event
		evType  string
		payload map[string]any
		subID   map[string]any
	}{
		{"logout with a session: complex subject", "RS256", "", event(events.AfterLogout, alice, map[string]any{"protocol": "oidc", "sid": "s-42"}),
			secevent.SessionRevoked, map[string]any{"initiating_entity": "user"},
			map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"},
				"session": map[string]any{"format": "opaque", "id": "s-42"}}},
		{"logout without a session", "ES256", "", event(events.AfterLogout, alice, map[string]any{"protocol": "oidc"}),
			secevent.SessionRevoked, map[string]any{"initiating_entity": "user"},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
		{"password reset by email", "EdDSA", "email", event(events.AfterPasswordReset, alice, nil),
			secevent.CredentialChange, map[string]any{"credential_type": "password", "change_type": "update", "initiating_entity": "user"},
			map[string]any{"format": "email", "email": "ada@example.com"}},
		{"email asked for, unverified: iss_sub", "RS256", "email",
			event(events.AfterPasswordReset, map[string]any{"sub": "u-1", "email": "ada@example.com", "email_verified": false}, nil),
			secevent.CredentialChange, map[string]any{"credential_type": "password"},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
		{"email asked for, verification not said: iss_sub", "RS256", "email",
			event(events.AfterPasswordReset, map[string]any{"sub": "u-1", "email": "ada@example.com"}, nil),
			secevent.CredentialChange, map[string]any{"credential_type": "password"},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
		{"email asked for, unverified as a string: iss_sub", "RS256", "email",
			event(events.AfterLogout, map[string]any{"sub": "u-1", "email": "ada@example.com", "email_verified": "false"}, nil),
			secevent.SessionRevoked, map[string]any{"initiating_entity": "user"},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
		{"email asked for, verified as a string", "RS256", "email",
			event(events.AfterLogout, map[string]any{"sub": "u-1", "email": "ada@example.com", "email_verified": "true"}, nil),
			secevent.SessionRevoked, map[string]any{"initiating_entity": "user"},
			map[string]any{"format": "email", "email": "ada@example.com"}},
		{"SAML logout: the NameID under its IdP's entity id, the session index", "RS256", "",
			event(events.AfterLogout, map[string]any{"sub": "crm-42", "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"},
				map[string]any{"protocol": "saml", "issuer": "https://idp.example/saml", "session_indexes": []any{"si-7"}}),
			secevent.SessionRevoked, map[string]any{"initiating_entity": "user"},
			map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": "https://idp.example/saml", "sub": "crm-42"},
				"session": map[string]any{"format": "opaque", "id": "si-7"}}},
		{"a one-time-code app added", "RS256", "", event(events.AfterMFAChange, alice, map[string]any{"mfa_type": "totp", "action": "added"}),
			secevent.CredentialChange, map[string]any{"credential_type": "app", "change_type": "create", "initiating_entity": "user"},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
		{"account deleted", "PS256", "", event(events.AfterAccountDeletion, alice, nil),
			secevent.AccountPurged, map[string]any{},
			map[string]any{"format": "iss_sub", "iss": issuer, "sub": "u-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTransmitter(t, tt.alg)
			rcv := setreceiver.Start(t, tr.jwksURL, issuer)
			s := newSender(t, secevent.Config{URL: rcv.URL + "/ssf", Subject: tt.subject, Authorization: "Bearer s3cr3t"}, tr)
			m := queued(t, tt.ev, "ssf")
			if res := s.Send(context.Background(), m); res.Err != nil || res.Status != http.StatusAccepted {
				t.Fatalf("Send = %+v", res)
			}
			got := rcv.Log()
			if len(got) != 1 {
				t.Fatalf("receiver log %+v", got)
			}
			r := got[0]
			if r.Header["typ"] != "secevent+jwt" || r.Header["alg"] != tt.alg || r.Authorization != "Bearer s3cr3t" {
				t.Fatalf("header %v, authorization %q", r.Header, r.Authorization)
			}
			c := r.Claims
			if c["jti"] != m.ID || c["txn"] != tt.ev.ID || c["aud"] != rcv.URL || c["iss"] != issuer {
				t.Fatalf("claims %v; want jti %s txn %s", c, m.ID, tt.ev.ID)
			}
			if !same(c["sub_id"], tt.subID) {
				t.Fatalf("sub_id %v, want %v", c["sub_id"], tt.subID)
			}
			evs := c["events"].(map[string]any)
			p, ok := evs[tt.evType].(map[string]any)
			if !ok {
				t.Fatalf("events %v, want %s", evs, tt.evType)
			}
			for k, v := range tt.payload {
				if p[k] != v {
					t.Fatalf("event payload %v, want %s = %v", p, k, v)
				}
			}
			if tt.evType != secevent.AccountPurged && p["event_timestamp"] != float64(tt.ev.Time.Unix()) {
				t.Fatalf("event_timestamp %v, want %d", p["event_timestamp"], tt.ev.Time.Unix())
			}
			for _, k := range []string{"exp", "sub", "request", "ip"} {
				if _, ok := c[k]; ok {
					t.Fatalf("claim %s in the SET: %v", k, c)
				}
			}
		})
	}
}

func same(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return a == b
	}
	if len(am) != len(bm) {
		return false
	}
	for k := range am {
		if !same(am[k], bm[k]) {
			return false
		}
	}
	return true
}

// The admin API's test event is an SSF verification event.
func TestTestEventIsVerification(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	s := newSender(t, secevent.Config{URL: rcv.URL, Audience: "urn:example:rp"}, tr)
	rcv.Audience = "urn:example:rp"
	m := delivery.Message{ID: delivery.NewID(), Receiver: "ssf", Event: secevent.TestEvent, Time: time.Now(),
		Payload: []byte(`{"type":"idphooks.test","timestamp":"2026-01-01T00:00:00Z","data":{"message":"a test event from idphooks"}}`)}
	if res := s.Send(context.Background(), m); res.Err != nil {
		t.Fatalf("Send = %+v", res)
	}
	evs := rcv.Log()[0].Claims["events"].(map[string]any)
	if v, ok := evs[secevent.Verification].(map[string]any); !ok || v["state"] != m.ID {
		t.Fatalf("events %v", evs)
	}
}

// What each answer comes to (RFC 8935 §2.2–2.4): 202 delivers; 400 is a
// rejection for good, its error code kept; 401 and 403 (the
// authorization value wrong or expired, which an operator fixes) and
// 5xx are retried; 410 disables; another 2xx is not an acknowledgement.
// The authorization value never shows in an error, even when the
// receiver echoes it.
func TestPushAnswers(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	tests := []struct {
		answer   setreceiver.Answer
		rejected bool
		gone     bool
		want     string
	}{
		{setreceiver.Answer{Status: 202}, false, false, ""},
		{setreceiver.Answer{Status: 400, Body: `{"err":"invalid_audience","description":"not for us"}`}, true, false, `answered 400: "invalid_audience": "not for us"`},
		{setreceiver.Answer{Status: 400, Body: `garbage`}, true, false, `answered 400 Bad Request: "garbage"`},
		{setreceiver.Answer{Status: 401, Body: `token Bearer s3cr3t is expired`}, false, false, `answered 401 Unauthorized: "token [REDACTED] is expired"`},
		{setreceiver.Answer{Status: 403, Body: `s3cr3t may not push`}, false, false, `answered 403 Forbidden: "[REDACTED] may not push"`},
		{setreceiver.Answer{Status: 503}, false, false, "answered 503"},
		{setreceiver.Answer{Status: 410}, false, true, "410"},
		{setreceiver.Answer{Status: 200}, false, false, "acknowledge a SET with 202 Accepted"},
	}
	s := newSender(t, secevent.Config{URL: rcv.URL + "/ssf", Authorization: "Bearer s3cr3t"}, tr)
	alice := map[string]any{"sub": "u-1"}
	for _, tt := range tests {
		rcv.Answer("/ssf", tt.answer)
		res := s.Send(context.Background(), queued(t, event(events.AfterLogout, alice, nil), "ssf"))
		if res.Status != tt.answer.Status {
			t.Fatalf("%d: status %d (%v)", tt.answer.Status, res.Status, res.Err)
		}
		if tt.want == "" {
			if res.Err != nil {
				t.Fatalf("%d: %v", tt.answer.Status, res.Err)
			}
			continue
		}
		if res.Err == nil || !strings.Contains(res.Err.Error(), tt.want) || strings.Contains(res.Err.Error(), "s3cr3t") {
			t.Fatalf("%d: err %v, want %q", tt.answer.Status, res.Err, tt.want)
		}
		if errors.Is(res.Err, delivery.ErrRejected) != tt.rejected || errors.Is(res.Err, delivery.ErrGone) != tt.gone {
			t.Fatalf("%d: rejected %v gone %v: %v", tt.answer.Status, errors.Is(res.Err, delivery.ErrRejected), errors.Is(res.Err, delivery.ErrGone), res.Err)
		}
	}
}

// A receiver that echoes the authorization value never has it shown,
// not even its start: where the quote of its answer is cut in the middle
// of the value, in a 400's description, or escaped by the quoting (a
// value holding a quote mark or a tab).
func TestEchoedAuthorizationRedacted(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	const token = "tok-0123456789abcdefghij\"q\"\tend"
	pad := strings.Repeat("x", 190)
	s := newSender(t, secevent.Config{URL: rcv.URL + "/ssf", Authorization: "Bearer " + token}, tr)
	desc, _ := json.Marshal(map[string]string{"err": "authentication_failed", "description": pad + " " + token})
	for _, a := range []setreceiver.Answer{
		{Status: 401, Body: pad + " " + token},
		{Status: 400, Body: string(desc)},
		{Status: 503, Body: "bad token: " + token},
		{Status: 307, Location: rcv.URL + "/x?" + pad + token},
	} {
		rcv.Answer("/ssf", a)
		res := s.Send(context.Background(), queued(t, event(events.AfterLogout, map[string]any{"sub": "u-1"}, nil), "ssf"))
		if res.Err == nil {
			t.Fatalf("%d: no error", a.Status)
		}
		if msg := res.Err.Error(); strings.Contains(msg, "tok-0123") {
			t.Errorf("%d: the authorization value shows: %s", a.Status, msg)
		}
	}
}

// Through the real queue and deliverer: a receiver answering 503 gets the
// SET again on the schedule, with the same jti, until it takes it; one
// answering 400 with an error code makes it a dead letter after one
// attempt, the code in the last error.
func TestRetriesAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	tr := newTransmitter(t, "ES256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	rcv.Answer("/busy", setreceiver.Answer{Status: 503}, setreceiver.Answer{Status: 503}, setreceiver.Answer{Status: 202})
	rcv.Answer("/strict", setreceiver.Answer{Status: 400, Body: `{"err":"invalid_key","description":"unknown kid"}`})
	q, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	busy := newSender(t, secevent.Config{URL: rcv.URL + "/busy", Audience: rcv.URL}, tr)
	strict := newSender(t, secevent.Config{URL: rcv.URL + "/strict", Audience: rcv.URL}, tr)
	d, err := delivery.New(delivery.Options{
		Queue: q, Schedule: []time.Duration{0, time.Millisecond, time.Millisecond, time.Millisecond}, Jitter: -1,
		Receivers: map[string]delivery.Receiver{"busy": {Sender: busy}, "strict": {Sender: strict}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	t.Cleanup(func() { _ = d.Close(ctx) })
	ev := event(events.AfterLogout, map[string]any{"sub": "u-1"}, map[string]any{"sid": "s-1"})
	mb, ms := queued(t, ev, "busy"), queued(t, ev, "strict")
	if err := d.Enqueue(ctx, mb, ms); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := q.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c["busy"].Pending == 0 && c["strict"].Dead == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v", c)
		}
	}
	var jtis []any
	for _, r := range rcv.Log() {
		if r.Path == "/busy" {
			jtis = append(jtis, r.Claims["jti"])
		}
	}
	if len(jtis) != 3 || jtis[0] != mb.ID || jtis[1] != mb.ID || jtis[2] != mb.ID {
		t.Fatalf("jti of the attempts %v, want %s three times", jtis, mb.ID)
	}
	e, err := q.Get(ctx, ms.ID)
	if err != nil || e.State != delivery.Dead || e.Attempt != 1 || e.LastStatus != 400 || !strings.Contains(e.LastError, "invalid_key") {
		t.Fatalf("dead letter %+v, %v", e, err)
	}
	if rcv.Hits("/strict") != 1 {
		t.Fatalf("%d pushes to the strict receiver, want 1", rcv.Hits("/strict"))
	}
}

// A redirect is not followed: the SET goes nowhere nobody configured.
func TestRedirectNotFollowed(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	rcv.Answer("/moved", setreceiver.Answer{Status: 307, Location: rcv.URL + "/elsewhere"})
	s := newSender(t, secevent.Config{URL: rcv.URL + "/moved", Audience: rcv.URL}, tr)
	res := s.Send(context.Background(), queued(t, event(events.AfterLogout, map[string]any{"sub": "u-1"}, nil), "ssf"))
	if res.Err == nil || res.Status != 307 || !strings.Contains(res.Err.Error(), "not followed") || errors.Is(res.Err, delivery.ErrRejected) {
		t.Fatalf("Send = %+v", res)
	}
	if n := rcv.Hits("/elsewhere"); n != 0 {
		t.Fatalf("the redirect was followed (%d hits)", n)
	}
}

// The egress rules of webhooks hold: a private or loopback address is
// refused at dial time unless allow_hosts lists it, and plain http only
// for a listed host.
func TestPrivateAddressRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	tr := newTransmitter(t, "RS256")
	s, err := secevent.NewSender(secevent.Config{URL: srv.URL + "/ssf", Issuer: issuerFunc, Signer: tr.keys})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), queued(t, event(events.AfterLogout, map[string]any{"sub": "u-1"}, nil), "ssf"))
	if !errors.Is(res.Err, egress.ErrRefused) || res.Status != 0 || hits.Load() != 0 {
		t.Fatalf("Send = %+v, %d hits", res, hits.Load())
	}
	if _, err := secevent.NewSender(secevent.Config{URL: "http://127.0.0.1:9/ssf", Issuer: issuerFunc, Signer: tr.keys}); err == nil || !strings.Contains(err.Error(), "plain http://") {
		t.Fatalf("plain http without allow_hosts: %v", err)
	}
}

// Messages that can never become a SET are rejected without a push; an
// issuer not known yet is retried.
func TestUnsendableMessages(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	rcv := setreceiver.Start(t, tr.jwksURL, issuer)
	s := newSender(t, secevent.Config{URL: rcv.URL + "/ssf"}, tr)
	for name, m := range map[string]delivery.Message{
		"no user":                   queued(t, event(events.AfterLogout, nil, nil), "ssf"),
		"no meaning":                queued(t, event(events.AfterLogin, map[string]any{"sub": "u-1"}, nil), "ssf"),
		"a factor CAEP cannot name": queued(t, event(events.AfterMFAChange, map[string]any{"sub": "u-1"}, map[string]any{"mfa_type": "carrier-pigeon", "action": "added"}), "ssf"),
		"not an envelope":           {ID: delivery.NewID(), Receiver: "ssf", Event: events.AfterLogout, Payload: []byte("nope")},
		"secret":                    {ID: delivery.NewID(), Receiver: "ssf", Event: events.BeforePasswordValidation, Payload: []byte("{}")},
	} {
		if res := s.Send(context.Background(), m); !errors.Is(res.Err, delivery.ErrRejected) {
			t.Errorf("%s: %+v", name, res)
		}
	}
	if n := rcv.Hits("/ssf"); n != 0 {
		t.Fatalf("%d pushes", n)
	}
	away, err := secevent.NewSender(secevent.Config{URL: rcv.URL + "/ssf", AllowHosts: []string{"127.0.0.1"}, Signer: tr.keys,
		Issuer: func(context.Context) (string, error) { return "", errors.New("discovery unavailable") }})
	if err != nil {
		t.Fatal(err)
	}
	res := away.Send(context.Background(), queued(t, event(events.AfterLogout, map[string]any{"sub": "u-1"}, nil), "ssf"))
	if res.Err == nil || errors.Is(res.Err, delivery.ErrRejected) || !strings.Contains(res.Err.Error(), "discovery unavailable") {
		t.Fatalf("issuer unknown: %+v", res)
	}
}

func TestConfigErrors(t *testing.T) {
	tr := newTransmitter(t, "RS256")
	for _, tt := range []struct {
		c    secevent.Config
		want string
	}{
		{secevent.Config{URL: "https://rp.example/ssf", Subject: "phone"}, "subject must be iss_sub or email"},
		{secevent.Config{URL: "ftp://rp.example/ssf"}, "must be https://"},
		{secevent.Config{URL: "https://u:pw@rp.example/ssf"}, "user information"},
		{secevent.Config{URL: "https://rp.example/ssf", Authorization: "Bearer a\r\nX-Evil: 1"}, "line break"},
	} {
		tt.c.Issuer, tt.c.Signer = issuerFunc, tr.keys
		if _, err := secevent.NewSender(tt.c); err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "pw@") {
			t.Errorf("%+v: %v, want %q", tt.c, err, tt.want)
		}
	}
	if _, err := secevent.NewSender(secevent.Config{URL: "https://rp.example/ssf"}); err == nil {
		t.Error("no issuer, no signer: accepted")
	}
	s, _ := secevent.NewSender(secevent.Config{URL: "https://rp.example:8443/ssf?x=1", Issuer: issuerFunc, Signer: tr.keys})
	if s.Audience() != "https://rp.example:8443" || s.Name() != "https://rp.example:8443/ssf" {
		t.Errorf("audience %q, name %q", s.Audience(), s.Name())
	}
	if err := secevent.CheckEvents([]string{events.AfterLogin}); err == nil || !strings.Contains(err.Error(), "no Shared Signals") {
		t.Errorf("after_login: %v", err)
	}
	if err := secevent.CheckEvents([]string{"after_lunch"}); err == nil || !strings.Contains(err.Error(), "unknown event") {
		t.Errorf("after_lunch: %v", err)
	}
	if err := secevent.CheckEvents([]string{events.AfterLogout, events.AfterLogout}); err == nil {
		t.Error("twice: accepted")
	}
}
