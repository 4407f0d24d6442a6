package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// Enricher is an enrich webhook as the events dispatcher sees a sync JS
// hook: a sandbox.Runner whose Run POSTs the event and turns the answer
// into api operations. It is safe for concurrent use.
type Enricher struct {
	ep       *endpoint
	handlers map[string]bool
}

var _ sandbox.Runner = (*Enricher)(nil)

// NewEnricher checks c and the subscribed events (CheckEvents) and builds
// the endpoint's client. Each call is bounded by its invocation's timeout
// (the hook's timeout within the event's budget); c.Timeout bounds a call
// whose invocation gives none.
func NewEnricher(c Config, eventIDs []string) (*Enricher, error) {
	ep, err := newEndpoint(c)
	if err != nil {
		return nil, err
	}
	if err := CheckEvents(eventIDs); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", ep.name, err)
	}
	e := &Enricher{ep: ep, handlers: make(map[string]bool, len(eventIDs))}
	for _, id := range eventIDs {
		e.handlers[events.HandlerName(id)] = true
	}
	return e, nil
}

// Name is the endpoint's name.
func (e *Enricher) Name() string { return e.ep.name }

// PublicKeys are the whpk_ keys receivers verify v1a signatures with.
func (e *Enricher) PublicKeys() []string { return e.ep.signer.PublicKeys() }

// Exports reports whether the webhook subscribes to the handler's event.
func (e *Enricher) Exports(handler string) bool { return e.handlers[handler] }

// Redact hides the endpoint's secrets (the dispatcher asks runners that
// have it, for what they hand back).
func (e *Enricher) Redact(s string) string { return e.ep.redact(s) }

// Run POSTs inv.Event in the envelope, signed, with a fresh webhook-id
// (each call is its own message: nothing is retried), and waits up to
// inv.Timeout for the answer. A 2xx answer's body becomes the operations
// (ParseAnswer). Anything else fails the run, and the dispatcher applies
// the webhook's on_error: no answer in time (sandbox.ErrTimeout), an
// answer over the size cap (sandbox.ErrLimit), and, as sandbox.ErrThrown
// (the receiver failed), a refused connection, a non-2xx status, a body
// that is not one of the formats, an operation the event does not offer
// or its check refuses. A deny the answer made before a refused
// operation is kept in the error's Recorded, so it stands.
func (e *Enricher) Run(ctx context.Context, inv sandbox.Invocation) (*sandbox.Result, error) {
	start := time.Now()
	fail := func(kind error, recorded []sandbox.Op, format string, args ...any) (*sandbox.Result, error) {
		detail := fmt.Sprintf(format, args...)
		for _, v := range inv.Redact {
			if v != "" {
				detail = strings.ReplaceAll(detail, v, "[REDACTED]")
			}
		}
		return nil, &sandbox.Error{Hook: e.ep.name, Handler: inv.Handler, Kind: kind,
			Detail: e.ep.redact(detail), Recorded: recorded}
	}
	if !e.handlers[inv.Handler] {
		return fail(sandbox.ErrThrown, nil, "the webhook does not subscribe to %s", inv.Handler)
	}
	if len(inv.Redact) > 0 {
		return fail(sandbox.ErrThrown, nil, "%v", ErrSecretEvent)
	}
	body, err := Envelope(inv.Event)
	if err != nil {
		return fail(sandbox.ErrThrown, nil, "%v", err)
	}
	timeout := inv.Timeout
	if timeout <= 0 {
		timeout = e.ep.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := e.ep.post(ctx, newMessageID(), body)
	if err != nil {
		if errors.Is(err, errTimeout) {
			return fail(sandbox.ErrTimeout, nil, "no answer within %v", timeout)
		}
		return fail(sandbox.ErrThrown, nil, "%v", err)
	}
	if a.Status < 200 || a.Status > 299 {
		return fail(sandbox.ErrThrown, nil, "%v", e.ep.statusError(a))
	}
	if a.Truncated {
		return fail(sandbox.ErrLimit, nil, "the answer is larger than %d bytes", e.ep.max)
	}
	ops, err := ParseAnswer(a.Body, inv.API)
	if err != nil {
		return fail(sandbox.ErrThrown, denies(ops), "the answer: %v", err)
	}
	return &sandbox.Result{Ops: ops, Duration: time.Since(start)}, nil
}

// denies keeps the deny calls among ops.
func denies(ops []sandbox.Op) []sandbox.Op {
	var out []sandbox.Op
	for _, op := range ops {
		if op.Object == "" && op.Method == "deny" {
			out = append(out, op)
		}
	}
	return out
}

// newMessageID is a fresh webhook-id for an enrich call.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}
