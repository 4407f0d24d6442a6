package webhook

import (
	"errors"
	"fmt"
	"time"

	"github.com/idphooks/idphooks/events"
)

// Envelope renders an event as the body of a webhook:
//
//	{"type": "after_login", "timestamp": "2026-…Z", "data": {…the event as hooks see it…}}
//
// ev is an events.Event (or a pointer to one), or the map its Map method
// returns (what a sandbox.Invocation carries). timestamp is when the event
// happened, in RFC 3339 (UTC, with the fraction the event has); the time
// of each attempt is the webhook-timestamp header. An event of a type
// that carries a password (events.Spec.Secret) is refused: no password
// ever leaves idphooks in a webhook.
func Envelope(ev any) ([]byte, error) {
	var m map[string]any
	switch e := ev.(type) {
	case *events.Event:
		if e == nil {
			return nil, errors.New("webhook envelope: nil event")
		}
		if err := refuseSecret(e.Type); err != nil {
			return nil, err
		}
		if len(e.Secrets) > 0 {
			return nil, fmt.Errorf("webhook envelope: event %s carries secret values: %w", e.Type, ErrSecretEvent)
		}
		// Map adds the common fields to Data, which the event owns:
		// rendering a copy leaves the caller's event as it was.
		c := *e
		c.Data = make(map[string]any, len(e.Data)+events.CommonFields)
		for k, v := range e.Data {
			c.Data[k] = v
		}
		m = c.Map()
	case events.Event:
		return Envelope(&e)
	case map[string]any:
		m = e
	default:
		return nil, fmt.Errorf("webhook envelope: want an events.Event or its Map, not %T", ev)
	}
	typ, _ := m["type"].(string)
	if typ == "" {
		return nil, errors.New("webhook envelope: the event has no type")
	}
	if err := refuseSecret(typ); err != nil {
		return nil, err
	}
	ts, err := eventTime(m["time"])
	if err != nil {
		return nil, fmt.Errorf("webhook envelope: event %s: %w", typ, err)
	}
	b, err := events.EnvelopeOf(typ, ts, m)
	if err != nil {
		return nil, fmt.Errorf("webhook envelope: event %s: %w", typ, err)
	}
	return b, nil
}

// eventTime takes the event's "time" as Map renders it (RFC 3339 with
// nanoseconds) or a time.Time.
func eventTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case string:
		pt, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q is not RFC 3339", t)
		}
		return pt, nil
	case time.Time:
		return t, nil
	case nil:
		return time.Time{}, errors.New("the event has no time")
	}
	return time.Time{}, fmt.Errorf("time must be an RFC 3339 string, not %T", v)
}
