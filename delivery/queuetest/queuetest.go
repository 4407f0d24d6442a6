// Package queuetest is the contract of delivery.Queue and
// delivery.Inspector as tests: every backend (boltqueue, redisqueue) runs
// the same suite, so what one guarantees the other does too. It is meant
// for tests only.
package queuetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

// Backend makes the queues the suite runs on.
type Backend struct {
	// New returns a new queue on storage of its own, empty, whose clock
	// (enqueue and death times) is clock; the backend closes it in the
	// test's cleanup. The queue must also be a delivery.Inspector.
	New func(t testing.TB, clock *fakeclock.Clock) delivery.Queue
	// Reopen closes q and opens its storage again, as a restart of the
	// process does. Nil for a backend without (the suite then checks
	// the same steps without the restarts).
	Reopen func(t testing.TB, clock *fakeclock.Clock, q delivery.Queue) delivery.Queue
}

// Run runs the suite, each case as a subtest.
func Run(t *testing.T, b Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Backend)
	}{
		{"Lifecycle", testLifecycle},
		{"OrderAndPaging", testOrderAndPaging},
		{"DeadPaging", testDeadPaging},
		{"ReplayByReceiverAndTime", testReplayByReceiverAndTime},
		{"EnqueueRefusesBadMessages", testEnqueueRefusesBadMessages},
		{"EnqueueAgainKeepsWhatIsHeld", testEnqueueAgain},
		{"LeaseHidesAndNext", testLeaseHidesAndNext},
		{"ConcurrentLeases", testConcurrentLeases},
		{"NoLongerPending", testNoLongerPending},
		{"Closed", testClosed},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

// Msg is the suite's message i for receiver: ID msg_%05d, a small JSON
// payload.
func Msg(receiver string, i int) delivery.Message {
	return delivery.Message{ID: fmt.Sprintf("msg_%05d", i), Receiver: receiver, Event: "after_login",
		Time: time.Unix(1_700_000_000, 0).UTC(), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

// IDs are the IDs of ms.
func IDs(ms []delivery.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// WantCounts fails t unless q's counts are want.
func WantCounts(t testing.TB, q delivery.Queue, want map[string]delivery.Counts) {
	t.Helper()
	got, err := q.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for r, w := range want {
		if g := got[r]; g.Pending != w.Pending || g.Dead != w.Dead || !g.OldestPending.Equal(w.OldestPending) {
			t.Fatalf("counts of %s: %+v, want %+v", r, g, w)
		}
	}
}

func inspector(t testing.TB, q delivery.Queue) delivery.Inspector {
	t.Helper()
	in, ok := q.(delivery.Inspector)
	if !ok {
		t.Fatalf("%T is not a delivery.Inspector", q)
	}
	return in
}
