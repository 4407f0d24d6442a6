package events

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/idphooks/idphooks/sandbox"
)

// Trace is what happened to one occurrence of an event: which hooks ran or
// were skipped and why, what they asked for, and how long it took. It holds
// no event data: no tokens, secrets or passwords, and of an api call only
// its name and the claim or field it names (values stay out).
type Trace struct {
	Time        time.Time   `json:"time"`
	RequestID   string      `json:"request_id"`
	EventID     string      `json:"event_id"`
	Event       string      `json:"event"`
	Application string      `json:"application"`
	Outcome     string      `json:"outcome"` // "continued", "denied", or "no hook ran"
	Reason      string      `json:"reason,omitempty"`
	DurationUS  int64       `json:"duration_us"`
	Hooks       []HookTrace `json:"hooks"`
}

// HookTrace is one hook's part in a Trace.
type HookTrace struct {
	Hook   string `json:"hook"`
	Mode   Mode   `json:"mode"`
	Status string `json:"status"` // ran, denied, failed, skipped, started (async)
	// Reason is the SkipReason of a skip, the failure kind of a failure.
	Reason     string  `json:"reason,omitempty"`
	Error      string  `json:"error,omitempty"`
	OnError    Policy  `json:"on_error,omitempty"`
	Ops        []OpRef `json:"ops,omitempty"`
	DurationUS int64   `json:"duration_us,omitempty"`

	// ops are the calls with their values, for the recorder and the
	// workbench; dropped before the trace joins the admin endpoint's log.
	ops    []sandbox.Op
	redact func(string) string // the hook's secret redactor, if any
}

// Redact hides the hook's secrets in s (a value of one of its calls),
// for whatever keeps the calls beyond the run: the recorder.
func (h *HookTrace) Redact(s string) string {
	if h.redact == nil {
		return s
	}
	return h.redact(s)
}

// OpRef names an api call without its values. It is what a trace keeps
// (no values, so nothing a hook computed from secrets or user data), and
// it is rendered only when served: a dispatch pays no formatting.
type OpRef struct {
	Object, Method string
	// Name is the first argument when it is a string: the claim,
	// attribute or field name, or a deny reason (shown to the end user
	// anyway).
	Name      string
	HasName   bool
	MoreArgs  bool
	OtherArgs bool // a first argument that is not a string
}

// refOf makes the reference of an op: the name cut to what is shown and
// copied, so the trace log keeps no large argument alive, and redacted.
func refOf(op sandbox.Op, redact func(string) string) OpRef {
	r := OpRef{Object: op.Object, Method: op.Method, MoreArgs: len(op.Args) > 1}
	if len(op.Args) > 0 {
		r.Name, r.HasName = op.Args[0].(string)
		r.OtherArgs = !r.HasName
	}
	if r.HasName {
		if redact != nil {
			r.Name = redact(r.Name)
		}
		r.Name = strings.Clone(truncateName(r.Name, maxOpName))
	}
	return r
}

// What a trace keeps of the strings a hook hands back.
const (
	maxOpName      = 64
	maxTraceReason = 256
)

// String renders the call: api.idToken.setClaim("tier", …).
func (r OpRef) String() string {
	var b strings.Builder
	b.WriteString("api.")
	if r.Object != "" {
		b.WriteString(r.Object)
		b.WriteByte('.')
	}
	b.WriteString(r.Method)
	b.WriteByte('(')
	switch {
	case r.HasName:
		q, _ := json.Marshal(r.Name)
		b.Write(q)
		if r.MoreArgs {
			b.WriteString(", …")
		}
	case r.OtherArgs:
		b.WriteString("…")
	}
	b.WriteByte(')')
	return b.String()
}

// MarshalJSON serves the call as its rendering.
func (r OpRef) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// Hook trace statuses.
const (
	StatusRan     = "ran"
	StatusDenied  = "denied"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusStarted = "started"
)

// OpsOf returns the api calls of a hook trace, values included. They are
// kept for the event recorder and the CLI; the admin endpoint serves only
// the redacted Ops.
func (h *HookTrace) OpsOf() []sandbox.Op { return h.ops }

// OpName renders an op without its values: api.idToken.setClaim("tier", …).
func OpName(op sandbox.Op) string { return refOf(op, nil).String() }

// truncateName cuts s to n bytes on a rune boundary, marking the cut.
func truncateName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// TraceLog keeps the most recent traces in memory, for Caddy's admin
// endpoint. It is safe for concurrent use; a nil *TraceLog keeps nothing.
type TraceLog struct {
	mu   sync.Mutex
	ring []*Trace
	next int
	full bool
}

// NewTraceLog keeps the last n traces.
func NewTraceLog(n int) *TraceLog { return &TraceLog{ring: make([]*Trace, n)} }

// Add keeps t, dropping the oldest trace when full.
func (l *TraceLog) Add(t *Trace) {
	if l == nil || len(l.ring) == 0 {
		return
	}
	l.mu.Lock()
	l.ring[l.next] = t
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
	l.mu.Unlock()
}

// TraceFilter selects traces; empty fields match everything.
type TraceFilter struct {
	RequestID, Event, Hook, Application string
	Limit                               int
}

func (f TraceFilter) match(t *Trace) bool {
	if f.RequestID != "" && t.RequestID != f.RequestID ||
		f.Event != "" && t.Event != f.Event ||
		f.Application != "" && t.Application != f.Application {
		return false
	}
	if f.Hook == "" {
		return true
	}
	for _, h := range t.Hooks {
		if h.Hook == f.Hook {
			return true
		}
	}
	return false
}

// Recent returns the traces that match f, newest first.
func (l *TraceLog) Recent(f TraceFilter) []*Trace {
	out := []*Trace{}
	if l == nil {
		return out
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	for k := 0; k < n; k++ {
		i := (l.next - 1 - k + len(l.ring)) % len(l.ring)
		if t := l.ring[i]; t != nil && f.match(t) {
			out = append(out, t)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
	}
	return out
}
