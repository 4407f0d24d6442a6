package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/delivery"
)

// The delivery part of the admin endpoint: receivers' health, the queued
// and dead messages, replay, a test event. Payloads are never shown: they
// hold users' data.

// deliverers are the provisioned handlers' deliverers and queues, the
// newest config's last.
func deliverers() []*Handler {
	handlersMu.Lock()
	defer handlersMu.Unlock()
	var out []*Handler
	for h := range handlers {
		if h.deliverer != nil && h.queue != nil {
			out = append(out, h)
		}
	}
	return out
}

// receiverOwner is the handler whose config has the receiver.
func receiverOwner(name string) (*Handler, error) {
	for _, h := range deliverers() {
		if h.deliverer.Has(name) {
			return h, nil
		}
	}
	return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no receiver %q (GET /idp-hooks/receivers lists them)", name)}
}

func method(r *http.Request, m string) error {
	if r.Method != m {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	return nil
}

func serveReceivers(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	out := []delivery.ReceiverHealth{}
	for _, h := range deliverers() {
		hs, err := h.deliverer.Health(r.Context())
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
		}
		out = append(out, hs...)
	}
	return writeJSON(w, out)
}

// entryView is a queued message without its payload.
type entryView struct {
	ID         string    `json:"id"`
	Receiver   string    `json:"receiver"`
	Event      string    `json:"event"`
	Time       time.Time `json:"time"`
	State      string    `json:"state"`
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at,omitzero"`
	LastError  string    `json:"last_error,omitempty"`
	LastStatus int       `json:"last_status,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	DeadAt     time.Time `json:"dead_at,omitzero"`
}

func viewOf(e delivery.Entry) entryView {
	v := entryView{ID: e.ID, Receiver: e.Receiver, Event: e.Event, Time: e.Time, State: string(e.State),
		Attempts: e.Attempt, LastError: e.LastError, LastStatus: e.LastStatus, EnqueuedAt: e.EnqueuedAt, DeadAt: e.DeadAt}
	if e.State == delivery.Pending {
		v.NextAt = e.NextAt
	}
	return v
}

func serveDeliveries(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	q := r.URL.Query()
	hs := deliverers()
	if len(hs) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no delivery queue is open (no async hook or webhook)")}
	}
	if id := q.Get("id"); id != "" {
		for _, h := range hs {
			e, err := h.queue.Get(r.Context(), id)
			if err == nil {
				return writeJSON(w, viewOf(e))
			}
			if !errors.Is(err, delivery.ErrNotFound) {
				return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
			}
		}
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no message %q", id)}
	}
	lq := delivery.ListQuery{Receiver: q.Get("receiver"), State: delivery.State(q.Get("state")), Cursor: q.Get("cursor")}
	if lq.Receiver == "" {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("receiver is required (or id)")}
	}
	if lq.State == "" {
		lq.State = delivery.Pending
	}
	if lq.State != delivery.Pending && lq.State != delivery.Dead {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("state must be pending or dead")}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("limit must be a positive number")}
		}
		lq.Limit = n
	}
	page, err := hs[0].queue.List(r.Context(), lq)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	out := struct {
		Entries []entryView `json:"entries"`
		Next    string      `json:"next,omitempty"`
	}{Entries: []entryView{}, Next: page.Next}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, viewOf(e))
	}
	return writeJSON(w, out)
}

// readBody decodes a small JSON request body into v.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("request body: %w", err)}
	}
	return nil
}

func serveReplay(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodPost); err != nil {
		return err
	}
	var in struct {
		ID       string    `json:"id"`
		Receiver string    `json:"receiver"`
		Since    time.Time `json:"since"`
		All      bool      `json:"all"`
	}
	if err := readBody(r, &in); err != nil {
		return err
	}
	if in.ID == "" && in.Receiver == "" && in.Since.IsZero() && !in.All {
		return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New(`say what to replay: {"id"}, {"receiver"}, {"since"} or {"all": true}`)}
	}
	hs := deliverers()
	if len(hs) == 0 {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no delivery queue is open")}
	}
	total := 0
	seen := map[string]bool{}
	for _, h := range hs {
		if seen[h.queueKey] {
			continue
		}
		seen[h.queueKey] = true
		n, err := h.queue.Replay(r.Context(), delivery.ReplayQuery{ID: in.ID, Receiver: in.Receiver, Since: in.Since}, time.Now())
		total += n
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("replayed %d, then: %w", total, err)}
		}
	}
	for _, h := range hs {
		h.deliverer.Notify()
	}
	return writeJSON(w, map[string]int{"replayed": total})
}

// serveEnable ends a receiver's disabled state (a 410) or pause: in every
// handler that has it, and, through its mark in Caddy storage, on the
// other instances at their next rescan.
func serveEnable(w http.ResponseWriter, r *http.Request) error {
	recv, _, err := postedReceiver(r)
	if err != nil {
		return err
	}
	for _, h := range deliverers() {
		if !h.deliverer.Has(recv) {
			continue
		}
		if err := h.deliverer.Enable(recv); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
		}
	}
	return writeJSON(w, map[string]string{"enabled": recv})
}

// postedReceiver reads a POST of {"receiver": <url>} and the handler
// that delivers to it.
func postedReceiver(r *http.Request) (string, *Handler, error) {
	if err := method(r, http.MethodPost); err != nil {
		return "", nil, err
	}
	var in struct {
		Receiver string `json:"receiver"`
	}
	if err := readBody(r, &in); err != nil {
		return "", nil, err
	}
	h, err := receiverOwner(in.Receiver)
	return in.Receiver, h, err
}

func serveSendTest(w http.ResponseWriter, r *http.Request) error {
	recv, h, err := postedReceiver(r)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{"type": "idphooks.test", "timestamp": now.Format(time.RFC3339Nano),
		"data": map[string]any{"message": "a test event from idphooks"}})
	m := delivery.Message{ID: delivery.NewID(), Receiver: recv, Event: "idphooks.test", Time: now, Payload: body}
	if err := h.deliverer.Enqueue(r.Context(), m); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	w.WriteHeader(http.StatusAccepted)
	return writeJSON(w, map[string]string{"id": m.ID})
}

func serveAudit(w http.ResponseWriter, r *http.Request) error {
	if err := method(r, http.MethodGet); err != nil {
		return err
	}
	limit := 50
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: errors.New("limit must be a positive number")}
		}
		limit = n
	}
	recs, err := auditRecords(r.Context(), limit)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
	}
	return writeJSON(w, recs)
}
