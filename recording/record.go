package recording

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// Version is the record format's version; readers refuse others.
const Version = 1

// Record is one recorded occurrence of an event.
type Record struct {
	Version    int            `json:"v"`
	RecordedAt time.Time      `json:"recorded_at"`
	Event      map[string]any `json:"event"`
	// UnlockClaims is the handler's unlock_claims: the protected-claim
	// rules the hooks ran under.
	UnlockClaims []string `json:"unlock_claims,omitempty"`
	Outcome      string   `json:"outcome"`
	Reason       string   `json:"reason,omitempty"`
	Hooks        []Hook   `json:"hooks"`
}

// Hook is what one configured hook did on the event, with the settings it
// ran under (never its secrets).
type Hook struct {
	Hook         string   `json:"hook"`
	Mode         string   `json:"mode,omitempty"`
	OnError      string   `json:"on_error,omitempty"`
	Applications []string `json:"applications,omitempty"`
	AllowHosts   []string `json:"allow_hosts,omitempty"`
	Timeout      string   `json:"timeout,omitempty"`
	Status       string   `json:"status"`
	Reason       string   `json:"reason,omitempty"`
	Error        string   `json:"error,omitempty"`
	Ops          []Op     `json:"ops,omitempty"`
}

// Op is an api call, values included.
type Op struct {
	Object string `json:"object,omitempty"`
	Method string `json:"method"`
	Args   []any  `json:"args,omitempty"`
}

// OpOf converts a sandbox op.
func OpOf(op sandbox.Op) Op { return Op{Object: op.Object, Method: op.Method, Args: op.Args} }

// SandboxOp converts back.
func (o Op) SandboxOp() sandbox.Op {
	return sandbox.Op{Object: o.Object, Method: o.Method, Args: o.Args}
}

// HookByName returns the recorded part of the named hook.
func (r *Record) HookByName(name string) (*Hook, bool) {
	for i := range r.Hooks {
		if r.Hooks[i].Hook == name {
			return &r.Hooks[i], true
		}
	}
	return nil, false
}

// maxLine bounds one record when reading: a record is an event (a few KiB)
// with its ops (at most 256 KiB of arguments per hook run).
const maxLine = 8 << 20

// Read calls fn for each record of r, in order. A line that is not a
// record of this version is an error naming its line number.
func Read(r io.Reader, fn func(line int, rec *Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("line %d: not a recorded event: %w", n, err)
		}
		if rec.Version != Version {
			return fmt.Errorf("line %d: record version %d, this build reads %d", n, rec.Version, Version)
		}
		if rec.Event == nil {
			return fmt.Errorf("line %d: record without an event", n)
		}
		if err := fn(n, &rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	return nil
}

// fromTrace builds the record of one dispatch.
func fromTrace(event map[string]any, t *events.Trace, s *settings) (*Record, error) {
	unlock := s.unlock
	// The event is copied through JSON now, while the caller still owns it.
	b, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, err
	}
	rec := &Record{Version: Version, RecordedAt: time.Now().UTC(), Event: ev, UnlockClaims: unlock,
		Outcome: t.Outcome, Reason: t.Reason}
	for i := range t.Hooks {
		ht := &t.Hooks[i]
		h := s.hooks[ht.Hook]
		h.Hook, h.Status, h.Reason, h.Error = ht.Hook, ht.Status, ht.Reason, ht.Error
		if h.Mode == "" {
			h.Mode = string(ht.Mode)
		}
		for _, op := range ht.OpsOf() {
			o := OpOf(op)
			// The hook's secrets, where a call's value holds one as
			// written, stay out of the file as they stay out of logs.
			o.Args = redactArgs(o.Args, ht.Redact)
			h.Ops = append(h.Ops, o)
		}
		rec.Hooks = append(rec.Hooks, h)
	}
	return rec, nil
}

// redactArgs returns args with redact applied to every string in them,
// copied where anything changed.
func redactArgs(args []any, redact func(string) string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = redactValue(a, redact)
	}
	return out
}

func redactValue(v any, redact func(string) string) any {
	switch t := v.(type) {
	case string:
		return redact(t)
	case []any:
		return redactArgs(t, redact)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[redact(k)] = redactValue(e, redact)
		}
		return m
	}
	return v
}
