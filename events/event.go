package events

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Request is what a hook may know of the HTTP request that raised an event.
// Headers hold only an allow-list: cookies and credentials never reach hooks.
type Request struct {
	ID        string            `json:"id"`
	IP        string            `json:"ip"`
	Method    string            `json:"method"`
	Host      string            `json:"host"`
	Path      string            `json:"path"`
	UserAgent string            `json:"user_agent,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// Event is one occurrence of a lifecycle event. It is plain data: hooks see
// it as `event`, webhooks receive it as JSON.
type Event struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"`
	Time        time.Time      `json:"time"`
	Application string         `json:"application,omitempty"`
	User        map[string]any `json:"user,omitempty"`
	Request     Request        `json:"request"`

	// Data is the event's own part (token claims, grant type, form fields
	// with passwords redacted…), merged into the top level of Map.
	Data map[string]any `json:"-"`

	// Secrets are values in Data that no log line, trace or error may
	// show (before_password_validation's password): hook runs redact
	// them like the hook's own secrets.
	Secrets []string `json:"-"`
}

// CommonFields is how many top-level fields Map adds to Data: room to
// leave when making a Data map.
const CommonFields = 6

// New starts an event of the given type with a fresh id and the current time.
func New(typ, application string, req Request) *Event {
	return &Event{ID: newID(), Type: typ, Time: time.Now().UTC(), Application: application, Request: req}
}

// Map renders the event as the plain data hooks receive. Data keys never
// shadow the common fields.
//
// It builds on Data, which the event owns: the common fields are added to
// it rather than to a copy (this runs on every token response), so a Data
// map must not be shared with another event.
func (e *Event) Map() map[string]any {
	m := e.Data
	if m == nil {
		m = make(map[string]any, CommonFields)
	}
	req := map[string]any{
		"id": e.Request.ID, "ip": e.Request.IP, "method": e.Request.Method,
		"host": e.Request.Host, "path": e.Request.Path, "user_agent": e.Request.UserAgent,
	}
	if len(e.Request.Headers) > 0 {
		h := make(map[string]any, len(e.Request.Headers))
		for k, v := range e.Request.Headers {
			h[k] = v
		}
		req["headers"] = h
	}
	m["id"] = e.ID
	m["type"] = e.Type
	m["time"] = e.Time.Format(time.RFC3339Nano)
	m["application"] = e.Application
	m["request"] = req
	if e.User != nil {
		m["user"] = e.User
	} else {
		m["user"] = map[string]any{}
	}
	return m
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}
