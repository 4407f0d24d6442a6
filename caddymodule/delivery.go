package caddymodule

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/boltqueue"
	"github.com/idphooks/idphooks/events"
)

// queues keeps each queue file open across config reloads: bbolt locks
// it, so the new config's deliverer shares the old one's queue.
var queues = caddy.NewUsagePool()

type queueValue struct{ *boltqueue.Queue }

func (q queueValue) Destruct() error { return q.Close() }

// queuePath is where the durable queue lives: QueuePath, else beside the
// state file, else idphooks/queue.db in Caddy's data directory.
func (h *Handler) queuePath() string {
	switch {
	case h.QueuePath != "":
		return h.QueuePath
	case h.StatePath != "":
		return filepath.Join(filepath.Dir(h.StatePath), "queue.db")
	}
	return filepath.Join(caddy.AppDataDir(), "idphooks", "queue.db")
}

// lateOutbox is the dispatcher's outbox before the deliverer exists (the
// deliverer's hook senders need the dispatcher).
type lateOutbox struct {
	d atomic.Pointer[delivery.Deliverer]
}

func (o *lateOutbox) Enqueue(ctx context.Context, msgs ...delivery.Message) error {
	d := o.d.Load()
	if d == nil {
		return fmt.Errorf("idp_hooks: the delivery queue is not open")
	}
	return d.Enqueue(ctx, msgs...)
}

// needsQueue reports whether anything is delivered through the queue: an
// async hook on any event of the catalog, or a notify webhook.
func needsQueue(hooks []*events.Hook, webhooks []WebhookConfig) bool {
	for _, w := range webhooks {
		if w.Mode != webhookEnrich {
			return true
		}
	}
	for _, h := range hooks {
		if h.Queued() {
			return true
		}
	}
	return false
}

// openQueue returns the state backend's queue, or opens (or shares) the
// embedded queue file.
func (h *Handler) openQueue() (Queue, error) {
	if h.state.Queue != nil {
		if h.QueuePath != "" {
			return nil, fmt.Errorf("idp_hooks: queue %s: the state backend keeps the delivery queue itself (queue names the embedded queue's file)", h.QueuePath)
		}
		return h.state.Queue, nil
	}
	path := h.queuePath()
	h.queueKey = "queue:" + path
	v, _, err := queues.LoadOrNew(h.queueKey, func() (caddy.Destructor, error) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		q, err := boltqueue.Open(path, boltqueue.Options{})
		if err != nil {
			return nil, err
		}
		return queueValue{q}, nil
	})
	if err != nil {
		h.queueKey = ""
		return nil, fmt.Errorf("idp_hooks: the delivery queue %s: %w", path, err)
	}
	return v.(queueValue).Queue, nil
}

// startDelivery starts the deliverer of this config: a receiver for every
// hook (its async handlers' events) and for each notify webhook (added
// by receivers), sharing the queue with the configs before and after.
func (h *Handler) startDelivery(ctx caddy.Context, q Queue, receivers map[string]delivery.Receiver) error {
	for _, eh := range h.dispatcher.Hooks() {
		// A run ends at its timeout; the second more is the sandbox's
		// teardown, so that a short lease is not refused for it.
		receivers[events.HookReceiver(eh)] = delivery.Receiver{Sender: h.dispatcher.HookSender(eh), AttemptTimeout: h.dispatcher.HookTimeout(eh) + time.Second}
	}
	// (the hooks' receiver names are set in provisionHooks: path and IdP)
	if err := registerDeliveryMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("idp_hooks: delivery metrics: %w", err)
	}
	d, err := delivery.New(delivery.Options{
		Queue:     q,
		Receivers: receivers,
		Lease:     h.state.Lease,
		Rescan:    h.state.Rescan,
		Marks:     storageMarks{ctx.Storage()},
		Logger:    h.logger.Named("delivery"),
	})
	if err != nil {
		return fmt.Errorf("idp_hooks: delivery: %w", err)
	}
	h.deliverer, h.queue = d, q
	h.outbox.d.Store(d)
	// The deliverer outlives the request contexts, not the config.
	d.Start(context.WithoutCancel(ctx))
	return nil
}

// stopDelivery lets the attempts in flight finish (up to a few seconds;
// the rest are leased again by the next config) and releases the queue.
func (h *Handler) stopDelivery() {
	if h.deliverer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.deliverer.Close(ctx)
	}
	if h.queueKey != "" {
		_, _ = queues.Delete(h.queueKey)
	}
}
