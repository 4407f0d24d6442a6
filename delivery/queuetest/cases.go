package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

// A message goes through its life: enqueued, leased (and hidden), its
// lease run out (due again), retried, dead, replayed, delivered; the
// counts follow, and it survives a reopen at each step.
func testLifecycle(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	reopen := func() {
		t.Helper()
		if b.Reopen != nil {
			q = b.Reopen(t, clock, q)
		}
	}
	if err := q.Enqueue(ctx, Msg("crm", 1), Msg("crm", 2), Msg("audit", 3)); err != nil {
		t.Fatal(err)
	}
	// Enqueuing again is a no-op.
	if err := q.Enqueue(ctx, Msg("crm", 1)); err != nil {
		t.Fatal(err)
	}
	reopen()
	WantCounts(t, q, map[string]delivery.Counts{
		"crm":   {Pending: 2, OldestPending: clock.Now()},
		"audit": {Pending: 1, OldestPending: clock.Now()},
	})
	now := clock.Now()
	got, next, err := q.Lease(ctx, "crm", now, 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00001" || !next.Equal(now) {
		t.Fatalf("Lease = %v, next %v, %v", IDs(got), next, err)
	}
	if string(got[0].Payload) != `{"n":1}` || got[0].Event != "after_login" || got[0].Receiver != "crm" ||
		!got[0].Time.Equal(Msg("crm", 1).Time) {
		t.Fatalf("leased %+v", got[0])
	}
	got, next, err = q.Lease(ctx, "crm", now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00002" || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("second Lease = %v, next %v, %v", IDs(got), next, err)
	}
	if got, _, _ := q.Lease(ctx, "crm", now, 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased messages leased again: %v", IDs(got))
	}
	reopen()
	// The leases run out: both are due again.
	clock.Add(time.Minute)
	got, _, err = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("after the lease: %v, %v", IDs(got), err)
	}
	m1 := got[0]
	m1.Attempt, m1.LastError, m1.LastStatus, m1.NextAt = 1, "503 Service Unavailable", 503, clock.Now().Add(time.Hour)
	if err := q.Retry(ctx, m1); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(ctx, got[1]); err != nil {
		t.Fatal(err)
	}
	// Done again, or on a message never there, is a no-op.
	if err := q.Done(ctx, got[1]); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(ctx, Msg("crm", 999)); err != nil {
		t.Fatal(err)
	}
	reopen()
	in := inspector(t, q)
	if _, err := in.Get(ctx, "msg_00002"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get of a delivered message: %v", err)
	}
	e, err := in.Get(ctx, "msg_00001")
	if err != nil || e.State != delivery.Pending || e.Attempt != 1 || e.LastStatus != 503 || e.LastError != m1.LastError ||
		!e.NextAt.Equal(m1.NextAt) || !e.EnqueuedAt.Equal(now) || !e.DeadAt.IsZero() || string(e.Payload) != `{"n":1}` {
		t.Fatalf("Get after Retry = %+v, %v", e, err)
	}
	if got, next, _ := q.Lease(ctx, "crm", clock.Now(), 10, time.Minute); len(got) != 0 || !next.Equal(m1.NextAt) {
		t.Fatalf("a retried message leased before its time: %v, next %v", IDs(got), next)
	}
	clock.Add(time.Hour)
	got, _, _ = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if len(got) != 1 || got[0].Attempt != 1 {
		t.Fatalf("retried message: %+v", got)
	}
	m1 = got[0]
	m1.Attempt = 2
	if err := q.Dead(ctx, m1); err != nil {
		t.Fatal(err)
	}
	reopen()
	in = inspector(t, q)
	WantCounts(t, q, map[string]delivery.Counts{
		"crm":   {Dead: 1},
		"audit": {Pending: 1, OldestPending: now},
	})
	page, err := in.List(ctx, delivery.ListQuery{Receiver: "crm", State: delivery.Dead})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].ID != "msg_00001" || page.Entries[0].State != delivery.Dead ||
		page.Entries[0].Attempt != 2 || !page.Entries[0].DeadAt.Equal(clock.Now()) || page.Next != "" {
		t.Fatalf("dead letters: %+v, %v", page, err)
	}
	if got, next, _ := q.Lease(ctx, "crm", clock.Now().Add(time.Hour), 10, time.Minute); len(got) != 0 || !next.IsZero() {
		t.Fatalf("a dead letter leased: %v, next %v", IDs(got), next)
	}
	clock.Add(time.Minute)
	n, err := in.Replay(ctx, delivery.ReplayQuery{ID: "msg_00001"}, clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if n, err := in.Replay(ctx, delivery.ReplayQuery{ID: "msg_00001"}, clock.Now()); err != nil || n != 0 {
		t.Fatalf("Replay of a pending message = %d, %v", n, err)
	}
	if _, err := in.Replay(ctx, delivery.ReplayQuery{ID: "nope"}, clock.Now()); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Replay of an unknown id: %v", err)
	}
	reopen()
	WantCounts(t, q, map[string]delivery.Counts{
		"crm":   {Pending: 1, OldestPending: clock.Now()},
		"audit": {Pending: 1, OldestPending: now},
	})
	got, _, _ = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if len(got) != 1 || got[0].ID != "msg_00001" || got[0].Attempt != 0 || !got[0].NextAt.Equal(clock.Now()) {
		t.Fatalf("replayed: %+v", got)
	}
	if err := q.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	WantCounts(t, q, map[string]delivery.Counts{"audit": {Pending: 1, OldestPending: now}})
}

// Lease gives due messages in due order, then ID, and only the
// receiver's; List pages through them with a cursor, in enqueue order.
func testOrderAndPaging(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	in := inspector(t, q)
	var all []delivery.Message
	for i := range 25 {
		m := Msg("crm", i)
		m.NextAt = clock.Now().Add(time.Duration(25-i) * time.Second) // due in the reverse order
		all = append(all, m, Msg("other", 100+i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	// Enqueued later, one at a time: listed after the first ones.
	clock.Add(time.Second)
	for i := 125; i < 130; i++ {
		if err := q.Enqueue(ctx, Msg("other", i)); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := q.Lease(ctx, "crm", clock.Now().Add(time.Hour), 100, time.Minute)
	if err != nil || len(got) != 25 {
		t.Fatalf("Lease: %d, %v", len(got), err)
	}
	for i, m := range got {
		if want := fmt.Sprintf("msg_%05d", 24-i); m.ID != want {
			t.Fatalf("lease %d is %s, want %s", i, m.ID, want)
		}
	}
	for _, limit := range []int{1, 7, 10, 30, 0} {
		var listed []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 40 {
				t.Fatal("paging does not end")
			}
			page, err := in.List(ctx, delivery.ListQuery{Receiver: "other", State: delivery.Pending, Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if limit > 0 && len(page.Entries) > limit {
				t.Fatalf("a page of %d, limit %d", len(page.Entries), limit)
			}
			for _, e := range page.Entries {
				if e.State != delivery.Pending || e.Receiver != "other" {
					t.Fatalf("listed %+v", e)
				}
				listed = append(listed, e.ID)
			}
			if cursor = page.Next; cursor == "" {
				break
			}
		}
		if len(listed) != 30 {
			t.Fatalf("limit %d: listed %d: %v", limit, len(listed), listed)
		}
		for i, id := range listed {
			if want := fmt.Sprintf("msg_%05d", 100+i); id != want {
				t.Fatalf("limit %d: entry %d is %s, want %s", limit, i, id, want)
			}
		}
	}
	// A cursor whose entry was delivered meanwhile still goes on from
	// where it was.
	page, err := in.List(ctx, delivery.ListQuery{Receiver: "other", State: delivery.Pending, Limit: 5})
	if err != nil || len(page.Entries) != 5 {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	if err := q.Done(ctx, page.Entries[4].Message); err != nil {
		t.Fatal(err)
	}
	page, err = in.List(ctx, delivery.ListQuery{Receiver: "other", State: delivery.Pending, Cursor: page.Next, Limit: 5})
	if err != nil || len(page.Entries) != 5 || page.Entries[0].ID != "msg_00105" {
		t.Fatalf("the page after a delivered cursor: %v, %v", page.Entries, err)
	}
	if page, err := in.List(ctx, delivery.ListQuery{Receiver: "nobody", State: delivery.Dead}); err != nil || len(page.Entries) != 0 || page.Next != "" {
		t.Fatalf("List of an unknown receiver: %+v, %v", page, err)
	}
	for _, bad := range []delivery.ListQuery{{State: delivery.Pending}, {Receiver: "crm", State: "lost"}, {Receiver: "crm", State: delivery.Dead, Cursor: "zz"}} {
		if _, err := in.List(ctx, bad); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// Dead letters are listed by death time, a page at a time.
func testDeadPaging(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	in := inspector(t, q)
	var all []delivery.Message
	for i := range 12 {
		all = append(all, Msg("crm", i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	got, _, err := q.Lease(ctx, "crm", clock.Now(), 100, time.Minute)
	if err != nil || len(got) != 12 {
		t.Fatalf("Lease: %d, %v", len(got), err)
	}
	// They die in the reverse order, a second apart.
	for i := len(got) - 1; i >= 0; i-- {
		clock.Add(time.Second)
		m := got[i]
		m.Attempt, m.LastError = 5, "timeout"
		if err := q.Dead(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, err := in.List(ctx, delivery.ListQuery{Receiver: "crm", State: delivery.Dead, Cursor: cursor, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.State != delivery.Dead || e.LastError != "timeout" || e.Attempt != 5 || e.DeadAt.IsZero() {
				t.Fatalf("dead entry %+v", e)
			}
			listed = append(listed, e.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(listed) != 12 || listed[0] != "msg_00011" || listed[11] != "msg_00000" {
		t.Fatalf("dead listed %v", listed)
	}
	if page, err := in.List(ctx, delivery.ListQuery{Receiver: "crm", State: delivery.Pending}); err != nil || len(page.Entries) != 0 {
		t.Fatalf("pending after they all died: %+v, %v", page, err)
	}
}

// Replay by receiver and by time moves the dead letters that died since
// then, in steps larger than one commit's.
func testReplayByReceiverAndTime(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	in := inspector(t, q)
	const n = 1200 // more than two replay steps
	var all []delivery.Message
	for i := range n {
		all = append(all, Msg([]string{"a", "b"}[i%2], i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b"} {
		got, _, err := q.Lease(ctx, r, clock.Now(), n, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range got {
			if i == len(got)/2 {
				clock.Add(time.Hour) // the second half dies an hour later
			}
			if err := q.Dead(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	since := fakeclock.New().Now().Add(30 * time.Minute)
	moved, err := in.Replay(ctx, delivery.ReplayQuery{Receiver: "a", Since: since}, clock.Now())
	if err != nil || moved != n/4 {
		t.Fatalf("replay of a since then = %d, %v; want %d", moved, err, n/4)
	}
	moved, err = in.Replay(ctx, delivery.ReplayQuery{}, clock.Now())
	if err != nil || moved != n-n/4 {
		t.Fatalf("replay of all = %d, %v; want %d", moved, err, n-n/4)
	}
	c, _ := q.Counts(ctx)
	if c["a"].Pending != n/2 || c["a"].Dead != 0 || c["b"].Pending != n/2 || c["b"].Dead != 0 {
		t.Fatalf("counts after replay: %+v", c)
	}
	if moved, err := in.Replay(ctx, delivery.ReplayQuery{Receiver: "nobody"}, clock.Now()); err != nil || moved != 0 {
		t.Fatalf("replay of an unknown receiver = %d, %v", moved, err)
	}
	// Replayed messages are due at the replay's time, attempts afresh.
	got, _, err := q.Lease(ctx, "b", clock.Now(), n, time.Minute)
	if err != nil || len(got) != n/2 {
		t.Fatalf("lease after replay: %d, %v", len(got), err)
	}
	for _, m := range got {
		if m.Attempt != 0 || !m.NextAt.Equal(clock.Now()) {
			t.Fatalf("replayed %+v", m)
		}
	}
}

// Bad messages are refused with ErrInvalid, and none of a call's are
// stored.
func testEnqueueRefusesBadMessages(t *testing.T, b Backend) {
	ctx := context.Background()
	q := b.New(t, fakeclock.New())
	good := Msg("crm", 1)
	for _, bad := range []delivery.Message{
		{Receiver: "crm"}, {ID: "x"}, {ID: "x", Receiver: "a\x00b"},
		{ID: string(make([]byte, 300)), Receiver: "crm"}, {ID: "x", Receiver: string(make([]byte, 2000))},
	} {
		if err := q.Enqueue(ctx, good, bad); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("Enqueue(%q, %q) = %v, want ErrInvalid", bad.ID, bad.Receiver, err)
		}
	}
	if c, _ := q.Counts(ctx); len(c) != 0 {
		t.Fatalf("a refused call stored messages: %v", c)
	}
	if err := q.Enqueue(ctx); err != nil {
		t.Fatalf("Enqueue of nothing: %v", err)
	}
}

// A message whose ID the queue holds, pending or dead, is left as it is
// when enqueued again, even with other content; the others of the call
// are stored.
func testEnqueueAgain(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	in := inspector(t, q)
	if err := q.Enqueue(ctx, Msg("crm", 1), Msg("crm", 2)); err != nil {
		t.Fatal(err)
	}
	got, _, err := q.Lease(ctx, "crm", clock.Now(), 1, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("Lease: %v, %v", IDs(got), err)
	}
	if err := q.Dead(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	changed1, changed2 := Msg("other", 1), Msg("other", 2)
	changed1.Payload, changed2.Payload = []byte(`"changed"`), []byte(`"changed"`)
	// Twice in one call: stored once.
	if err := q.Enqueue(ctx, changed1, changed2, Msg("crm", 3), Msg("crm", 3)); err != nil {
		t.Fatal(err)
	}
	for id, state := range map[string]delivery.State{"msg_00001": delivery.Dead, "msg_00002": delivery.Pending} {
		e, err := in.Get(ctx, id)
		if err != nil || e.State != state || e.Receiver != "crm" || string(e.Payload) == `"changed"` {
			t.Fatalf("%s after enqueuing it again: %+v, %v", id, e, err)
		}
	}
	WantCounts(t, q, map[string]delivery.Counts{"crm": {Pending: 2, Dead: 1, OldestPending: clock.Now().Add(-time.Minute)}})
}

// A leased message is hidden until its lease runs out; next tells when
// the first of the receiver's hidden or future messages is due; max
// bounds a lease; an empty receiver has no next.
func testLeaseHidesAndNext(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	now := clock.Now()
	if got, next, err := q.Lease(ctx, "crm", now, 10, time.Minute); err != nil || len(got) != 0 || !next.IsZero() {
		t.Fatalf("Lease of an empty receiver: %v, %v, %v", IDs(got), next, err)
	}
	later := Msg("crm", 9)
	later.NextAt = now.Add(2 * time.Hour)
	if err := q.Enqueue(ctx, Msg("crm", 1), Msg("crm", 2), Msg("crm", 3), later); err != nil {
		t.Fatal(err)
	}
	got, next, err := q.Lease(ctx, "crm", now, 2, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != "msg_00001" || got[1].ID != "msg_00002" || !next.Equal(now) {
		t.Fatalf("Lease max 2 = %v, next %v, %v", IDs(got), next, err)
	}
	clock.Add(10 * time.Second)
	got, next, err = q.Lease(ctx, "crm", clock.Now(), 10, 5*time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00003" || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("Lease = %v, next %v (want the first lease's end), %v", IDs(got), next, err)
	}
	clock.Add(time.Minute)
	got, next, err = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != "msg_00001" || !next.Equal(now.Add(10*time.Second+5*time.Minute)) {
		t.Fatalf("Lease after the first lease = %v, next %v, %v", IDs(got), next, err)
	}
	for _, m := range got {
		if err := q.Done(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(5 * time.Minute)
	got, next, err = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00003" || !next.Equal(later.NextAt) {
		t.Fatalf("Lease = %v, next %v (want the later message's), %v", IDs(got), next, err)
	}
}

// Concurrent leases from one queue never hand out a message twice while
// its lease is live.
func testConcurrentLeases(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	const n = 600
	var all []delivery.Message
	for i := range n {
		all = append(all, Msg("crm", i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				got, _, err := q.Lease(ctx, "crm", clock.Now(), 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					seen[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("leased %d distinct messages of %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s leased %d times", id, c)
		}
	}
}

// Done, Retry and Dead of a message no longer pending leave it alone.
func testNoLongerPending(t *testing.T, b Backend) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := b.New(t, clock)
	in := inspector(t, q)
	if err := q.Enqueue(ctx, Msg("crm", 1), Msg("crm", 2)); err != nil {
		t.Fatal(err)
	}
	got, _, err := q.Lease(ctx, "crm", clock.Now(), 2, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("Lease: %v, %v", IDs(got), err)
	}
	dead, done := got[0], got[1]
	if err := q.Dead(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(ctx, done); err != nil {
		t.Fatal(err)
	}
	dead.Attempt, dead.NextAt = 9, clock.Now()
	done.Attempt, done.NextAt = 9, clock.Now()
	for _, m := range []delivery.Message{dead, done} {
		if err := q.Retry(ctx, m); err != nil {
			t.Fatalf("Retry of %s: %v", m.ID, err)
		}
		if err := q.Done(ctx, m); err != nil {
			t.Fatalf("Done of %s: %v", m.ID, err)
		}
	}
	if err := q.Dead(ctx, done); err != nil {
		t.Fatalf("Dead of a delivered message: %v", err)
	}
	if _, err := in.Get(ctx, done.ID); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("a delivered message back: %v", err)
	}
	if e, err := in.Get(ctx, dead.ID); err != nil || e.State != delivery.Dead || e.Attempt == 9 {
		t.Fatalf("the dead letter after Retry and Done: %+v, %v", e, err)
	}
	WantCounts(t, q, map[string]delivery.Counts{"crm": {Dead: 1}})
}

// A closed queue says so.
func testClosed(t *testing.T, b Backend) {
	ctx := context.Background()
	q := b.New(t, fakeclock.New())
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, Msg("crm", 1)); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	if _, _, err := q.Lease(ctx, "crm", time.Now(), 1, time.Minute); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Lease after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
