package delivery_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

// A receiver down for a day, then up: every message is delivered, no
// attempt comes before its schedule allows, none past the schedule's
// end, the receiver is paused once (one log line) and back once, and a
// healthy receiver beside it gets its messages at the first attempt.
func TestReceiverDownForADayThenUp(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	start := clock.Now()
	up := start.Add(24 * time.Hour)
	down := newReceiver(t, clock.Now)
	down.setAnswer(func(string) (int, string) {
		if clock.Now().Before(up) {
			return 503, ""
		}
		return 200, ""
	})
	healthy := newReceiver(t, clock.Now)
	log, logs := observedLogger()
	q := openQueue(t, clock.Now)
	d, err := delivery.New(delivery.Options{
		Queue: q, Clock: clock, Logger: log,
		Receivers: map[string]delivery.Receiver{
			"crm":   {Sender: down.sender()},
			"audit": {Sender: healthy.sender()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	if err := d.Enqueue(ctx, messages("crm", n)...); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, messages("audit", n)...); err != nil {
		t.Fatal(err)
	}
	simulate(t, d, clock, start.Add(48*time.Hour), func() bool {
		return down.deliveredCount() == n && healthy.deliveredCount() == n
	})

	jitter := 1 - delivery.DefaultJitter
	requests := down.requests()
	down.mu.Lock()
	defer down.mu.Unlock()
	most := 0
	for id, at := range down.attempts {
		most = max(most, len(at))
		if len(at) > len(delivery.DefaultSchedule) {
			t.Errorf("%s: %d attempts, more than the schedule's %d", id, len(at), len(delivery.DefaultSchedule))
		}
		for k := 1; k < len(at); k++ {
			if gap, least := at[k].Sub(at[k-1]), time.Duration(float64(delivery.DefaultSchedule[k])*jitter); gap < least {
				t.Errorf("%s: attempt %d came %s after the one before, the schedule allows it after %s", id, k+1, gap, least)
			}
		}
	}
	t.Logf("%d requests to the down receiver over %s of fake time, at most %d for one message; %d log lines",
		requests, clock.Now().Sub(start), most, logs.Len())
	for id, at := range healthy.attempts {
		if len(at) != 1 {
			t.Errorf("healthy receiver: %s took %d attempts", id, len(at))
		}
	}
	if got := logs.FilterMessageSnippet("paused").Len(); got != 1 {
		t.Errorf("%d pause log lines, want 1: %v", got, logs.All())
	}
	if got := logs.FilterMessageSnippet("delivering again").Len(); got != 1 {
		t.Errorf("%d recovery log lines, want 1", got)
	}
	h := health(t, d, "crm")
	if h.State != delivery.Active || h.ConsecutiveFailures != 0 || h.Pending != 0 || h.Dead != 0 || !h.LastSuccess.After(up) {
		t.Errorf("health after recovery: %+v", h)
	}
}

// Messages that fail every attempt become dead letters after the last,
// and a replay delivers them with the same ID.
func TestDeadLettersAndReplay(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	recv := newReceiver(t, clock.Now)
	failing := true
	recv.setAnswer(func(string) (int, string) {
		if failing {
			return 500, ""
		}
		return 204, ""
	})
	q := openQueue(t, clock.Now)
	newDeliverer := func() *delivery.Deliverer {
		d, err := delivery.New(delivery.Options{
			Queue: q, Clock: clock,
			Schedule:  []time.Duration{0, time.Minute, time.Hour},
			Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender()}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := newDeliverer()
	msgs := messages("crm", 3)
	if err := d.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	simulate(t, d, clock, clock.Now().Add(24*time.Hour), func() bool {
		c, _ := q.Counts(ctx)
		return c["crm"].Dead == 3
	})
	e, err := q.Get(ctx, msgs[0].ID)
	if err != nil || e.State != delivery.Dead || e.Attempt != 3 || e.LastStatus != 500 || e.LastError == "" {
		t.Fatalf("dead letter: %+v, %v", e, err)
	}
	recv.mu.Lock()
	if got := len(recv.attempts[msgs[0].ID]); got != 3 {
		t.Errorf("%d attempts, want 3", got)
	}
	recv.mu.Unlock()

	recv.mu.Lock()
	failing = false
	recv.mu.Unlock()
	if n, err := q.Replay(ctx, delivery.ReplayQuery{Receiver: "crm"}, clock.Now()); err != nil || n != 3 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	d = newDeliverer()
	simulate(t, d, clock, clock.Now().Add(time.Hour), func() bool { return recv.deliveredCount() == 3 })
	for _, m := range msgs {
		if recv.delivered[m.ID] != 1 {
			t.Errorf("%s delivered %d times after the replay", m.ID, recv.delivered[m.ID])
		}
	}
}

// A message the receiver rejects for good (ErrRejected) is a dead letter
// after its first attempt, whatever attempts the schedule has left; the
// receiver's other messages go on.
func TestRejectedIsDeadAtOnce(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	recv := newReceiver(t, clock.Now)
	msgs := messages("crm", 2)
	recv.setAnswer(func(id string) (int, string) {
		if id == msgs[0].ID {
			return 400, ""
		}
		return 202, ""
	})
	q := openQueue(t, clock.Now)
	d, err := delivery.New(delivery.Options{
		Queue: q, Clock: clock,
		Schedule:  []time.Duration{0, time.Minute, time.Hour},
		Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	simulate(t, d, clock, clock.Now().Add(time.Hour), func() bool {
		c, _ := q.Counts(ctx)
		return c["crm"].Dead == 1 && recv.deliveredCount() == 1
	})
	e, err := q.Get(ctx, msgs[0].ID)
	if err != nil || e.State != delivery.Dead || e.Attempt != 1 || e.LastStatus != 400 {
		t.Fatalf("rejected message: %+v, %v", e, err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if n := len(recv.attempts[msgs[0].ID]); n != 1 {
		t.Fatalf("%d attempts of a rejected message, want 1", n)
	}
}

// A 410 disables the receiver: one attempt, one log line, its messages
// kept and not attempted; Enable delivers them.
func TestGoneDisablesReceiver(t *testing.T) {
	ctx := context.Background()
	recv := newReceiver(t, time.Now)
	recv.setAnswer(func(string) (int, string) { return 410, "" })
	log, logs := observedLogger()
	q := openQueue(t, nil)
	d, err := delivery.New(delivery.Options{
		Queue: q, Logger: log,
		Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender(), Concurrency: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	defer d.Close(ctx)
	if err := d.Enqueue(ctx, messages("crm", 5)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver to be disabled", func() bool { return health(t, d, "crm").State == delivery.Disabled })
	// More messages, and a rescan, attempt nothing.
	if err := d.Enqueue(ctx, messages("crm", 5)...); err != nil {
		t.Fatal(err)
	}
	d.Notify()
	h := health(t, d, "crm")
	if h.Pending != 10 || h.LastError == "" {
		t.Errorf("health of a disabled receiver: %+v", h)
	}
	if got := recv.requests(); got != 1 {
		t.Errorf("%d requests to a receiver that answered 410, want 1", got)
	}
	if got := logs.FilterMessageSnippet("410").Len(); got != 1 {
		t.Errorf("%d log lines for a 410, want 1", got)
	}
	recv.setAnswer(nil)
	if err := d.Enable("crm"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the messages after Enable", func() bool { return recv.deliveredCount() == 10 })
}

// A receiver failing is paused (one log line) and does not hold up
// another; the health report says so; when it answers again the pause
// ends (one line) and its messages are delivered.
func TestPauseAndRecovery(t *testing.T) {
	ctx := context.Background()
	broken := newReceiver(t, time.Now)
	broken.setAnswer(func(string) (int, string) { return 502, "" })
	healthy := newReceiver(t, time.Now)
	log, logs := observedLogger()
	q := openQueue(t, nil)
	d, err := delivery.New(delivery.Options{
		Queue: q, Logger: log, Concurrency: 4,
		// Short and long, so that what failed comes back soon and
		// none of it dies during the pause.
		Schedule:           slices.Repeat([]time.Duration{20 * time.Millisecond}, 50),
		PauseAfterFailures: 5, ProbeInterval: 20 * time.Millisecond, MaxProbeInterval: 50 * time.Millisecond,
		Receivers: map[string]delivery.Receiver{
			"broken":  {Sender: broken.sender()},
			"healthy": {Sender: healthy.sender()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(ctx)
	defer d.Close(ctx)
	if err := d.Enqueue(ctx, messages("broken", 200)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pause", func() bool { return health(t, d, "broken").State == delivery.Paused })
	if err := d.Enqueue(ctx, messages("healthy", 100)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the healthy receiver's messages", func() bool { return healthy.deliveredCount() == 100 })
	h := health(t, d, "broken")
	t.Logf("broken receiver while paused: %+v; %d requests", h, broken.requests())
	if h.State != delivery.Paused || h.ConsecutiveFailures < 5 || h.LastError == "" || h.Pending != 200 || h.PausedAt.IsZero() {
		t.Errorf("health while paused: %+v", h)
	}
	// Probes are few: the pause holds the rest back.
	if n := broken.requests(); n > 100 {
		t.Errorf("%d requests to a paused receiver", n)
	}
	broken.setAnswer(nil)
	waitFor(t, "recovery", func() bool { return broken.deliveredCount() == 200 })
	h = health(t, d, "broken")
	if h.State != delivery.Active || h.ConsecutiveFailures != 0 || h.LastSuccess.IsZero() {
		t.Errorf("health after recovery: %+v", h)
	}
	if got := logs.FilterMessageSnippet("paused").Len(); got != 1 {
		t.Errorf("%d pause log lines, want 1", got)
	}
	if got := logs.FilterMessageSnippet("delivering again").Len(); got != 1 {
		t.Errorf("%d recovery log lines, want 1", got)
	}
}

// A Retry-After holds the receiver's next attempts back for that long
// (within MaxRetryAfter), beyond the schedule's 5 seconds.
func TestRetryAfterHonoured(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	recv := newReceiver(t, clock.Now)
	first := true
	recv.setAnswer(func(string) (int, string) {
		if first {
			first = false
			return 429, strconv.Itoa(int((2 * time.Hour).Seconds()))
		}
		return 200, ""
	})
	q := openQueue(t, clock.Now)
	d, err := delivery.New(delivery.Options{
		Queue: q, Clock: clock, MaxRetryAfter: time.Hour,
		Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender(), Concurrency: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := messages("crm", 1)
	if err := d.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	simulate(t, d, clock, clock.Now().Add(3*time.Hour), func() bool { return recv.deliveredCount() == 1 })
	at := recv.attempts[msgs[0].ID]
	if len(at) != 2 || at[1].Sub(at[0]) < time.Hour {
		t.Fatalf("attempts at %v: the second should wait the (bounded) Retry-After of an hour", at)
	}
}

// With nothing failing and Concurrency 1, a receiver gets its messages
// in the order they were enqueued (the order guaranteed is by due time,
// best effort; none across retries).
func TestOrderWithoutFailures(t *testing.T) {
	ctx := context.Background()
	recv := newReceiver(t, time.Now)
	q := openQueue(t, nil)
	d, err := delivery.New(delivery.Options{
		Queue: q, Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender(), Concurrency: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for range 10 {
		msgs := messages("crm", 10)
		for _, m := range msgs {
			want = append(want, m.ID)
		}
		if err := d.Enqueue(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	d.Start(ctx)
	defer d.Close(ctx)
	waitFor(t, "delivery", func() bool { return recv.deliveredCount() == len(want) })
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if !slices.Equal(recv.order, want) {
		t.Fatalf("delivered out of order:\n got %v\nwant %v", recv.order, want)
	}
}

// Bad options and messages for unknown receivers are refused.
func TestRefusals(t *testing.T) {
	q := openQueue(t, nil)
	if _, err := delivery.New(delivery.Options{}); err == nil {
		t.Error("New without a queue")
	}
	if _, err := delivery.New(delivery.Options{Queue: q, Receivers: map[string]delivery.Receiver{"a": {}}}); err == nil {
		t.Error("New with a receiver without a sender")
	}
	if _, err := delivery.New(delivery.Options{Queue: q, Schedule: []time.Duration{}}); err == nil {
		t.Error("New with an empty schedule")
	}
	if _, err := delivery.New(delivery.Options{Queue: q, Lease: time.Second}); err == nil {
		t.Error("New with a lease shorter than an attempt")
	}
	d, err := delivery.New(delivery.Options{Queue: q})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(context.Background(), messages("nobody", 1)...); err == nil {
		t.Error("Enqueue for an unknown receiver")
	}
	if err := d.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

// The lease must outlast the receivers' own attempt timeouts, not the
// default of receivers that set one: a cluster may lease for 3 seconds
// when its webhooks time out after 2.
func TestLeaseMeasuredAgainstReceiversTimeouts(t *testing.T) {
	q := openQueue(t, time.Now)
	rcv := map[string]delivery.Receiver{"crm": {Sender: postSender{url: "http://127.0.0.1:1"}, AttemptTimeout: 2 * time.Second}}
	if _, err := delivery.New(delivery.Options{Queue: q, Receivers: rcv, Lease: 3 * time.Second}); err != nil {
		t.Fatalf("a 3s lease over 2s attempts: %v", err)
	}
	_, err := delivery.New(delivery.Options{Queue: q, Receivers: rcv, Lease: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "not longer than an attempt's timeout (2s)") {
		t.Fatalf("a 2s lease over 2s attempts: %v", err)
	}
	rcv["other"] = delivery.Receiver{Sender: postSender{url: "http://127.0.0.1:1"}}
	if _, err := delivery.New(delivery.Options{Queue: q, Receivers: rcv, Lease: 3 * time.Second}); err == nil {
		t.Fatal("a receiver with the default timeout (15s) took a 3s lease")
	}
}
