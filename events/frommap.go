package events

import (
	"fmt"
	"time"
)

// FromMap rebuilds an event from the plain data hooks receive (Map's
// output: a fixture, a recorded event), so the workbench runs it through
// the same Dispatch as the server. The map is taken over.
func FromMap(m map[string]any) (*Event, error) {
	typ, _ := m["type"].(string)
	if typ == "" {
		return nil, fmt.Errorf("event has no \"type\"")
	}
	if err := CheckID(typ); err != nil {
		return nil, err
	}
	ev := &Event{Type: typ}
	ev.ID, _ = m["id"].(string)
	if ev.ID == "" {
		ev.ID = newID()
	}
	ev.Time = time.Now().UTC()
	if s, ok := m["time"].(string); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("event time: %w", err)
		}
		ev.Time = t
	}
	ev.Application, _ = m["application"].(string)
	if u, ok := m["user"].(map[string]any); ok {
		ev.User = u
	} else if m["user"] != nil {
		return nil, fmt.Errorf("event user must be an object")
	}
	if r, ok := m["request"].(map[string]any); ok {
		str := func(k string) string { s, _ := r[k].(string); return s }
		ev.Request = Request{ID: str("id"), IP: str("ip"), Method: str("method"), Host: str("host"),
			Path: str("path"), UserAgent: str("user_agent")}
		if h, ok := r["headers"].(map[string]any); ok {
			ev.Request.Headers = make(map[string]string, len(h))
			for k, v := range h {
				s, _ := v.(string)
				ev.Request.Headers[k] = s
			}
		}
	}
	for _, k := range []string{"id", "type", "time", "application", "user", "request"} {
		delete(m, k)
	}
	ev.Data = m
	return ev, nil
}

// CheckID refuses an id that is not in the catalog, suggesting the
// nearest one.
func CheckID(id string) error {
	if _, ok := Lookup(id); !ok {
		return fmt.Errorf("unknown event %q%s", id, didYouMeanEvent(id))
	}
	return nil
}

func didYouMeanEvent(typ string) string {
	best, bestD := "", 0
	for _, id := range IDs() {
		if d := distance(typ, id); best == "" || d < bestD || (d == bestD && id < best) {
			best, bestD = id, d
		}
	}
	if bestD <= len(best)/3 {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}
