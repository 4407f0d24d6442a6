package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/sandbox"
)

// Outbox takes the messages of an event's async receivers durably before
// the request that raised it is answered (delivery.Queue's Enqueue).
type Outbox interface {
	Enqueue(ctx context.Context, msgs ...delivery.Message) error
}

// ErrNotQueued is wrapped by Outcome.Err: the outbox refused the event.
// The dispatcher logs such an outage once when it starts and once when it
// ends; the interceptor that raised the event answers its request 503
// and logs nothing more, or a Redis that is down would log every request.
var ErrNotQueued = errors.New("event not queued")

// Receiver is a notify receiver (a webhook): told of the events it
// subscribes to through the outbox, after the fact.
type Receiver struct {
	Name         string
	Events       []string
	Applications []string
}

func (r *Receiver) wants(event, app string) bool {
	return slices.Contains(r.Events, event) && (len(r.Applications) == 0 || slices.Contains(r.Applications, app))
}

// Queued reports whether any of h's handlers runs async on an event that
// may be queued (not a secret one): its events then need an Outbox.
func (h *Hook) Queued() bool {
	for id, spec := range catalog {
		if !spec.Secret && h.mode(spec) == Async && h.Runner.Exports(HandlerName(id)) {
			return true
		}
	}
	return false
}

// HookReceiver is the receiver name of an async JS hook's messages.
func HookReceiver(h *Hook) string {
	if h.Receiver != "" {
		return h.Receiver
	}
	return "hook:" + h.Name
}

// Envelope is the body every receiver gets: the Standard Webhooks
// envelope around the event as hooks see it (data, from ev.Map).
func Envelope(ev *Event, data map[string]any) ([]byte, error) {
	return EnvelopeOf(ev.Type, ev.Time, data)
}

// EnvelopeOf is the envelope of an event of type typ that happened at t.
func EnvelopeOf(typ string, t time.Time, data map[string]any) ([]byte, error) {
	return json.Marshal(struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}{typ, t.UTC().Format(time.RFC3339Nano), data})
}

// enqueue commits the messages of ev for the async hooks and the notify
// receivers that want it. A failure is the caller's to answer: the event
// could not be kept, so the request must not be answered as if it had.
func (d *Dispatcher) enqueue(ctx context.Context, ev *Event, data map[string]any, async []*Hook) error {
	var names []string
	for _, h := range async {
		names = append(names, HookReceiver(h))
	}
	for i := range d.opts.Receivers {
		if r := &d.opts.Receivers[i]; r.wants(ev.Type, ev.Application) {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	body, err := Envelope(ev, data)
	if err != nil {
		return fmt.Errorf("event %s: encoding: %w", ev.Type, err)
	}
	msgs := make([]delivery.Message, len(names))
	for k, name := range names {
		// Each receiver's message has its own id (the queue keys by it,
		// receivers dedupe on it); the event's id is in the payload.
		msgs[k] = delivery.Message{ID: delivery.NewID(), Receiver: name, Event: ev.Type, Time: ev.Time, Payload: body}
	}
	if err := d.opts.Outbox.Enqueue(ctx, msgs...); err != nil {
		if ctx.Err() == nil && d.unqueued.CompareAndSwap(false, true) {
			d.log.Error("events not queued: the requests that raise them are refused until the queue stores again", zap.String("event", ev.Type),
				zap.String("event_id", ev.ID), zap.String("request_id", ev.Request.ID), zap.Error(err))
		}
		return fmt.Errorf("%w: %w", ErrNotQueued, err)
	}
	if d.unqueued.CompareAndSwap(true, false) {
		d.log.Warn("events are queued again")
	}
	return nil
}

// wantsReceivers reports whether a notify receiver wants event for app
// (any app when app is nil).
func (d *Dispatcher) wantsReceivers(event string, app *string) bool {
	if d == nil {
		return false
	}
	for i := range d.opts.Receivers {
		r := &d.opts.Receivers[i]
		if !slices.Contains(r.Events, event) {
			continue
		}
		if app == nil || len(r.Applications) == 0 || slices.Contains(r.Applications, *app) {
			return true
		}
	}
	return false
}

// HookSender delivers the queued messages of an async JS hook: it runs
// the hook's handler of the message's event on the event the envelope
// holds. A failed run is a failed attempt, retried on the schedule.
func (d *Dispatcher) HookSender(h *Hook) delivery.Sender {
	return hookSender{d: d, h: h}
}

// HookTimeout bounds one queued run of h: its own timeout, or the
// dispatcher's for async runs.
func (d *Dispatcher) HookTimeout(h *Hook) time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return d.opts.AsyncTimeout
}

type hookSender struct {
	d *Dispatcher
	h *Hook
}

func (s hookSender) Send(ctx context.Context, m delivery.Message) delivery.Result {
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(m.Payload, &env); err != nil || env.Data == nil {
		return delivery.Result{Err: fmt.Errorf("message %s: not an event envelope", m.ID)}
	}
	handler := HandlerName(m.Event)
	if !s.h.Runner.Exports(handler) {
		// The hook changed since the event was queued: nothing to run.
		return delivery.Result{}
	}
	timeout := s.d.HookTimeout(s.h)
	req, _ := env.Data["request"].(map[string]any)
	rid, _ := req["id"].(string)
	res, err := s.h.Runner.Run(ctx, sandbox.Invocation{
		Handler: handler, Event: env.Data, Timeout: timeout, EventType: m.Event, RequestID: rid,
	})
	if s.d.opts.OnAsync != nil {
		ev := &Event{ID: m.ID, Type: m.Event, Time: m.Time}
		s.d.opts.OnAsync(s.h.Name, ev, res, err)
	}
	return delivery.Result{Err: err}
}
