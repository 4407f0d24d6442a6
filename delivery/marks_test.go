package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// memMarks is Marks in memory, shared by the deliverers of a test as a
// cluster shares Caddy storage.
type memMarks struct {
	mu sync.Mutex
	m  map[string]delivery.Mark
}

func (s *memMarks) Disabled(context.Context) (map[string]delivery.Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]delivery.Mark{}
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

func (s *memMarks) MarkDisabled(_ context.Context, name string, m delivery.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = m
	return nil
}

func (s *memMarks) ClearDisabled(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

// A receiver that answered 410 stays disabled across a restart and on
// the other instances sharing the marks; enabling it on one enables it
// on all.
func TestGoneIsKeptAcrossRestartsAndInstances(t *testing.T) {
	ctx := context.Background()
	recv := newReceiver(t, time.Now)
	recv.setAnswer(func(string) (int, string) { return 410, "" })
	q := openQueue(t, nil)
	marks := &memMarks{m: map[string]delivery.Mark{}}
	start := func() *delivery.Deliverer {
		d, err := delivery.New(delivery.Options{
			Queue: q, Marks: marks, Rescan: 20 * time.Millisecond,
			Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender(), Concurrency: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		d.Start(ctx)
		t.Cleanup(func() { d.Close(ctx) })
		return d
	}
	d1 := start()
	if err := d1.Enqueue(ctx, messages("crm", 3)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver to be disabled", func() bool { return health(t, d1, "crm").State == delivery.Disabled })
	waitFor(t, "the mark", func() bool { m, _ := marks.Disabled(ctx); _, ok := m["crm"]; return ok })
	d1.Close(ctx)

	// A restart (a new deliverer on the same queue and marks), and a
	// second instance beside it: neither attempts anything.
	d2, d3 := start(), start()
	time.Sleep(100 * time.Millisecond)
	for _, d := range []*delivery.Deliverer{d2, d3} {
		if h := health(t, d, "crm"); h.State != delivery.Disabled || h.Pending != 3 {
			t.Fatalf("after a restart: %+v", h)
		}
	}
	if got := recv.requests(); got != 1 {
		t.Fatalf("%d requests to a receiver that answered 410, want 1", got)
	}
	recv.setAnswer(nil)
	if err := d2.Enable("crm"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other instance to enable it too", func() bool { return health(t, d3, "crm").State == delivery.Active })
	waitFor(t, "the messages after Enable", func() bool { return recv.deliveredCount() == 3 })
}
