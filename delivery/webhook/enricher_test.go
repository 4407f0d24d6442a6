package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// tokenInvocation is a before_token run as the dispatcher makes it, with
// the claim policy that protects sub, iss, ….
func tokenInvocation(t *testing.T) sandbox.Invocation {
	t.Helper()
	ev := events.New(events.BeforeToken, "web-app", events.Request{ID: "req-7"})
	ev.User = map[string]any{"sub": "u-1"}
	ev.Data = map[string]any{"grant_type": "authorization_code"}
	spec, _ := events.Lookup(events.BeforeToken)
	return sandbox.Invocation{Handler: events.HandlerName(events.BeforeToken), Event: ev.Map(),
		API: spec.API(events.NewClaimPolicy(nil).Check), Timeout: 5 * time.Second}
}

func invocationFor(t *testing.T, id string, check func(sandbox.Op) error) sandbox.Invocation {
	t.Helper()
	ev := events.New(id, "sp", events.Request{ID: "req-8"})
	spec, _ := events.Lookup(id)
	return sandbox.Invocation{Handler: events.HandlerName(id), Event: ev.Map(), API: spec.API(check), Timeout: 5 * time.Second}
}

// Both answer formats, through the npm standardwebhooks receiver (each
// call signed and verified, a fresh webhook-id per call).
func TestEnricherAnswerFormats(t *testing.T) {
	secret := GenerateSecret()
	answers := map[string]answerSpec{
		"/own": {Body: map[string]any{"ops": []any{
			map[string]any{"op": "idToken.setClaim", "args": []any{"tier", "gold"}},
			map[string]any{"object": "accessToken", "method": "setClaim", "args": []any{"crm_id", 42}},
			map[string]any{"op": "api.idToken.removeClaim", "args": []any{"legacy"}},
		}}},
		"/own-deny": {Body: map[string]any{"ops": []any{map[string]any{"op": "deny", "args": []any{"blocked in CRM"}}}}},
		"/okta-token": {Body: map[string]any{"commands": []any{
			map[string]any{"type": "com.okta.identity.patch", "value": []any{
				map[string]any{"op": "add", "path": "/claims/tier", "value": "gold"},
				map[string]any{"op": "remove", "path": "/claims/legacy"},
			}},
			map[string]any{"type": "com.okta.access.patch", "value": []any{
				map[string]any{"op": "replace", "path": "/claims/crm_id", "value": 42},
				map[string]any{"op": "add", "path": "/claims/a~1b", "value": map[string]any{"x": 1.5}},
			}},
		}, "debugContext": map[string]any{"note": "ignored"}}},
		"/okta-error":   {Body: map[string]any{"error": map[string]any{"errorSummary": "blocked in CRM"}}},
		"/empty-object": {Body: map[string]any{}},
	}
	rcv := startVerifier(t, []string{secret}, nil, answers)
	run := func(path string, inv sandbox.Invocation) (*sandbox.Result, error) {
		e, err := NewEnricher(Config{URL: rcv.URL + path, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{secret}},
			[]string{events.BeforeToken, events.BeforeSAMLAssertion, events.BeforeRegistration})
		if err != nil {
			t.Fatal(err)
		}
		return e.Run(context.Background(), inv)
	}
	tests := []struct {
		path string
		want []sandbox.Op
	}{
		{"/own", []sandbox.Op{
			{Object: "idToken", Method: "setClaim", Args: []any{"tier", "gold"}},
			{Object: "accessToken", Method: "setClaim", Args: []any{"crm_id", int64(42)}},
			{Object: "idToken", Method: "removeClaim", Args: []any{"legacy"}},
		}},
		{"/own-deny", []sandbox.Op{{Method: "deny", Args: []any{"blocked in CRM"}}}},
		{"/okta-token", []sandbox.Op{
			{Object: "idToken", Method: "setClaim", Args: []any{"tier", "gold"}},
			{Object: "idToken", Method: "removeClaim", Args: []any{"legacy"}},
			{Object: "accessToken", Method: "setClaim", Args: []any{"crm_id", int64(42)}},
			{Object: "accessToken", Method: "setClaim", Args: []any{"a/b", map[string]any{"x": 1.5}}},
		}},
		{"/okta-error", []sandbox.Op{{Method: "deny", Args: []any{"blocked in CRM"}}}},
		{"/empty-object", nil},
		{"/no-answer", nil}, // 204
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := run(tt.path, tokenInvocation(t))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Ops, tt.want) {
				t.Fatalf("ops %#v\nwant %#v", res.Ops, tt.want)
			}
		})
	}
	log := rcv.log(t)
	if len(log) != len(tests) {
		t.Fatalf("the receiver verified %d calls, want %d", len(log), len(tests))
	}
	ids := map[string]bool{}
	for _, d := range log {
		ids[d.ID] = true
		if d.Payload["type"] != events.BeforeToken {
			t.Fatalf("payload %v", d.Payload)
		}
	}
	if len(ids) != len(log) {
		t.Fatal("webhook-id reused between calls")
	}
}

// Okta's SAML and registration commands map to the assertion and form
// api; through a plain loopback server (the signature is covered above).
func TestEnricherOktaSAMLAndRegistration(t *testing.T) {
	bodies := map[string]string{
		"/saml": `{"commands":[{"type":"com.okta.assertion.patch","value":[
			{"op":"add","path":"/claims/department","value":{"attributes":{"NameFormat":"urn:oasis:names:tc:SAML:2.0:attrname-format:basic"},
			 "attributeValues":[{"attributes":{"xsi:type":"xs:string"},"value":"R&D"}]}},
			{"op":"replace","path":"/claims/roles","value":["a","b"]},
			{"op":"remove","path":"/claims/legacy"},
			{"op":"replace","path":"/subject/nameId","value":"ada@example.com"}]}]}`,
		"/registration":       `{"commands":[{"type":"com.okta.user.profile.update","value":{"tier":"gold","age":42,"vip":true}}]}`,
		"/registration-deny":  `{"commands":[{"type":"com.okta.action.update","value":{"registration":"DENY"}}]}`,
		"/registration-error": `{"error":{"errorSummary":"","errorCauses":[{"errorSummary":"Email domain not allowed","location":"data.userProfile.email"}]}}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, bodies[r.URL.Path])
	}))
	defer srv.Close()
	tests := []struct {
		path, event string
		want        []sandbox.Op
	}{
		{"/saml", events.BeforeSAMLAssertion, []sandbox.Op{
			{Object: "assertion", Method: "setAttribute", Args: []any{"department", []any{"R&D"}, map[string]any{"nameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}}},
			{Object: "assertion", Method: "setAttribute", Args: []any{"roles", []any{"a", "b"}}},
			{Object: "assertion", Method: "removeAttribute", Args: []any{"legacy"}},
			{Object: "assertion", Method: "setNameID", Args: []any{"ada@example.com"}},
		}},
		{"/registration", events.BeforeRegistration, []sandbox.Op{
			{Object: "form", Method: "setField", Args: []any{"age", "42"}},
			{Object: "form", Method: "setField", Args: []any{"tier", "gold"}},
			{Object: "form", Method: "setField", Args: []any{"vip", "true"}},
		}},
		{"/registration-deny", events.BeforeRegistration, []sandbox.Op{{Method: "deny", Args: []any{"registration denied"}}}},
		{"/registration-error", events.BeforeRegistration, []sandbox.Op{{Method: "deny", Args: []any{"Email domain not allowed"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e, err := NewEnricher(Config{URL: srv.URL + tt.path, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}}, []string{tt.event})
			if err != nil {
				t.Fatal(err)
			}
			check := events.NewAssertionPolicy(nil).Check
			if tt.event != events.BeforeSAMLAssertion {
				check = nil
			}
			res, err := e.Run(context.Background(), invocationFor(t, tt.event, check))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Ops, tt.want) {
				t.Fatalf("ops %#v\nwant %#v", res.Ops, tt.want)
			}
		})
	}
}

// Answers that cannot be applied fail the run, with the kind the
// dispatcher logs and a detail that says why; nothing is applied.
func TestEnricherBadAnswers(t *testing.T) {
	type answer struct {
		status int
		body   string
	}
	answers := map[string]answer{
		"/protected":      {200, `{"ops":[{"op":"idToken.setClaim","args":["tier","gold"]},{"op":"idToken.setClaim","args":["sub","admin"]}]}`},
		"/deny-then-bad":  {200, `{"ops":[{"op":"deny","args":["no"]},{"op":"idToken.setClaim","args":["sub","admin"]}]}`},
		"/not-offered":    {200, `{"ops":[{"op":"userinfo.setClaim","args":["tier","gold"]}]}`},
		"/not-a-function": {200, `{"ops":[{"op":"redirect","args":["https://evil.example"]}]}`},
		"/typo":           {200, `{"ops":[{"op":"idToken.setClaim","arg":["tier","gold"]}]}`},
		"/garbage":        {200, `<html>oops</html>`},
		"/trailing":       {200, `{"ops":[]} {"ops":[]}`},
		"/unknown-keys":   {200, `{"status":"ok"}`},
		"/both":           {200, `{"ops":[],"commands":[]}`},
		"/okta-lifetime":  {200, `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":36000}]}]}`},
		"/okta-nested":    {200, `{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/groups/-","value":"x"}]}]}`},
		"/okta-unknown":   {200, `{"commands":[{"type":"com.okta.user.import","value":{}}]}`},
		"/okta-protected": {200, `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/claims/iss","value":"https://evil.example"}]}]}`},
		"/status":         {500, `database down`},
		"/redirect":       {307, ``},
		"/huge":           {200, `{"ops":[` + strings.Repeat(`{"op":"idToken.setClaim","args":["a","b"]},`, 4000) + `{}]}`},
	}
	slow := make(chan struct{})
	defer close(slow)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-slow:
			}
			return
		}
		a := answers[r.URL.Path]
		if a.status == 307 {
			w.Header().Set("Location", "https://elsewhere.example/")
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
	}))
	defer srv.Close()
	tests := []struct {
		path     string
		kind     error
		detail   string
		recorded []sandbox.Op
	}{
		{"/protected", sandbox.ErrThrown, `operation 2 (idToken.setClaim): claim "sub" is protected`, nil},
		{"/deny-then-bad", sandbox.ErrThrown, "operation 2", []sandbox.Op{{Method: "deny", Args: []any{"no"}}}},
		{"/not-offered", sandbox.ErrThrown, "not available on this event (it offers accessToken.removeClaim, accessToken.setClaim, deny, idToken.removeClaim, idToken.setClaim)", nil},
		{"/not-a-function", sandbox.ErrThrown, "operation 1 (redirect): not available", nil},
		{"/typo", sandbox.ErrThrown, `unknown field "arg"`, nil},
		{"/garbage", sandbox.ErrThrown, "not a JSON object", nil},
		{"/trailing", sandbox.ErrThrown, "data after the JSON value", nil},
		{"/unknown-keys", sandbox.ErrThrown, `none of "ops", "commands", "error" (it has status)`, nil},
		{"/both", sandbox.ErrThrown, "use one", nil},
		{"/okta-lifetime", sandbox.ErrThrown, "token lifetimes are not changed", nil},
		{"/okta-nested", sandbox.ErrThrown, "a path inside a claim is not supported", nil},
		{"/okta-unknown", sandbox.ErrThrown, "unknown command type", nil},
		{"/okta-protected", sandbox.ErrThrown, `claim "iss" is protected`, nil},
		{"/status", sandbox.ErrThrown, `answered 500 Internal Server Error: "database down"`, nil},
		{"/redirect", sandbox.ErrThrown, "not followed", nil},
		{"/huge", sandbox.ErrLimit, "larger than 65536 bytes", nil},
		{"/slow", sandbox.ErrTimeout, "no answer within 300ms", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e, err := NewEnricher(Config{URL: srv.URL + tt.path, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}}, []string{events.BeforeToken})
			if err != nil {
				t.Fatal(err)
			}
			inv := tokenInvocation(t)
			inv.Timeout = 300 * time.Millisecond
			res, err := e.Run(context.Background(), inv)
			var se *sandbox.Error
			if res != nil || !errors.As(err, &se) || !errors.Is(err, tt.kind) || !strings.Contains(se.Detail, tt.detail) {
				t.Fatalf("Run = %v, %v; want %v with %q", res, err, tt.kind, tt.detail)
			}
			if !reflect.DeepEqual(se.Recorded, tt.recorded) {
				t.Fatalf("recorded %v, want %v", se.Recorded, tt.recorded)
			}
		})
	}
}

// The dispatcher runs an enrich webhook like a sync hook: its ops join
// the outcome, its deny denies, its failure follows on_error.
func TestEnricherInDispatcher(t *testing.T) {
	bodies := map[string]string{
		"/claims":  `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/tier","value":"gold"}]}]}`,
		"/deny":    `{"error":{"errorSummary":"blocked in CRM"}}`,
		"/garbage": `nope`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, bodies[r.URL.Path])
	}))
	defer srv.Close()
	dispatch := func(path string, onError events.Policy) events.Outcome {
		e, err := NewEnricher(Config{URL: srv.URL + path, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}}, []string{events.BeforeToken})
		if err != nil {
			t.Fatal(err)
		}
		d := events.NewDispatcher([]*events.Hook{{Name: "crm", Runner: e, Timeout: 5 * time.Second, OnError: onError}}, events.Options{})
		ev := events.New(events.BeforeToken, "web-app", events.Request{ID: "r"})
		if !d.Wants(events.BeforeToken, "web-app") || d.Wants(events.BeforeUserinfo, "web-app") {
			t.Fatal("Exports does not follow the subscribed events")
		}
		return d.Dispatch(context.Background(), ev, events.NewClaimPolicy(nil).Check)
	}
	if out := dispatch("/claims", ""); out.Denied || len(out.Ops) != 1 || out.Ops[0].Args[0] != "tier" {
		t.Fatalf("claims: %+v", out)
	}
	if out := dispatch("/deny", ""); !out.Denied || out.Reason != "blocked in CRM" || out.Failed {
		t.Fatalf("deny: %+v", out)
	}
	if out := dispatch("/garbage", events.Continue); out.Denied || len(out.Ops) != 0 {
		t.Fatalf("garbage, continue: %+v", out)
	}
	if out := dispatch("/garbage", events.Deny); !out.Denied || !out.Failed {
		t.Fatalf("garbage, deny: %+v", out)
	}
}

// The runtime guard: an event with secrets never leaves, and a handler the
// webhook does not subscribe to is not run.
func TestEnricherGuards(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := Config{URL: srv.URL, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}}
	if _, err := NewEnricher(c, []string{events.BeforePasswordValidation}); !errors.Is(err, ErrSecretEvent) {
		t.Fatalf("NewEnricher: %v", err)
	}
	e, err := NewEnricher(c, []string{events.BeforeToken})
	if err != nil {
		t.Fatal(err)
	}
	inv := tokenInvocation(t)
	inv.Redact = []string{"hunter2"}
	if _, err := e.Run(context.Background(), inv); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("with secrets: %v", err)
	}
	inv = invocationFor(t, events.BeforeUserinfo, nil)
	if _, err := e.Run(context.Background(), inv); err == nil {
		t.Fatal("ran an unsubscribed handler")
	}
	if hits.Load() != 0 {
		t.Fatalf("sent %d times", hits.Load())
	}
}
