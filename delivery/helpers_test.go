package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/boltqueue"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

// postSender is the simplest real Sender: a POST of the payload, the id
// in webhook-id; 2xx delivers, 410 is ErrGone, anything else fails.
type postSender struct {
	url    string
	client *http.Client
}

func (s postSender) Send(ctx context.Context, m delivery.Message) delivery.Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(m.Payload))
	if err != nil {
		return delivery.Result{Err: err}
	}
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("content-type", "application/json")
	client := s.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return delivery.Result{Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	res := delivery.Result{Status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		res.RetryAfter = time.Duration(s) * time.Second
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode == http.StatusGone:
		res.Err = delivery.ErrGone
	case resp.StatusCode == http.StatusBadRequest:
		res.Err = fmt.Errorf("%w: the receiver answered 400", delivery.ErrRejected)
	default:
		res.Err = fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
	return res
}

// receiverServer is a loopback webhook receiver that records every
// request; answer decides each one's status (200 when nil).
type receiverServer struct {
	*httptest.Server
	mu        sync.Mutex
	answer    func(id string) (status int, retryAfter string)
	attempts  map[string][]time.Time // id → when each request came (by the test's clock)
	delivered map[string]int         // id → 2xx answers
	order     []string               // ids in the order they were delivered
	// mismatched are the ids whose body, of the form {"id":…}, named
	// another.
	mismatched []string
	now        func() time.Time
}

func newReceiver(t testing.TB, now func() time.Time) *receiverServer {
	r := &receiverServer{attempts: map[string][]time.Time{}, delivered: map[string]int{}, now: now}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		if bytes.HasPrefix(body, []byte(`{"id":`)) && string(body) != fmt.Sprintf(`{"id":%q}`, id) {
			r.mismatched = append(r.mismatched, id)
		}
		status, ra := 200, ""
		if r.answer != nil {
			status, ra = r.answer(id)
		}
		r.attempts[id] = append(r.attempts[id], r.now())
		if status < 300 {
			r.delivered[id]++
			r.order = append(r.order, id)
		}
		r.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiverServer) setAnswer(f func(id string) (int, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = f
}

func (r *receiverServer) deliveredCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

func (r *receiverServer) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.attempts {
		n += len(a)
	}
	return n
}

func (r *receiverServer) sender() delivery.Sender { return postSender{url: r.URL} }

func openQueue(t testing.TB, now func() time.Time) *boltqueue.Queue {
	t.Helper()
	q, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), boltqueue.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func messages(receiver string, n int) []delivery.Message {
	out := make([]delivery.Message, n)
	for i := range out {
		out[i] = delivery.Message{ID: delivery.NewID(), Receiver: receiver, Event: "after_login",
			Time: time.Now(), Payload: []byte(fmt.Sprintf(`{"type":"after_login","n":%d}`, i))}
	}
	return out
}

func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

// waitFor waits until cond holds, failing the test after a long while
// (a hang, not a slow machine).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// simulate runs d on a fake clock: each time nothing is in flight, the
// clock jumps to when d would wake, until finished says so. It fails if d
// would sleep past limit (or for ever) first.
func simulate(t *testing.T, d *delivery.Deliverer, clock *fakeclock.Clock, limit time.Time, finished func() bool) {
	t.Helper()
	end := make(chan error, 1)
	delivery.SetIdleHook(d, func(next time.Time) {
		switch {
		case finished():
			select {
			case end <- nil:
			default:
			}
		case next.IsZero() || next.After(limit):
			select {
			case end <- fmt.Errorf("stuck at %s: next wake %s", clock.Now(), next):
			default:
			}
		default:
			clock.Set(next)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	select {
	case err := <-end:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the simulation did not end; the clock is at %s", clock.Now())
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func health(t testing.TB, d *delivery.Deliverer, name string) delivery.ReceiverHealth {
	t.Helper()
	hs, err := d.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no health for %s in %+v", name, hs)
	return delivery.ReceiverHealth{}
}
