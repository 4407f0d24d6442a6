package boltqueue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

func openTest(t testing.TB, clock *fakeclock.Clock) (*Queue, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "queue.db")
	opts := Options{}
	if clock != nil {
		opts.Now = clock.Now
	}
	q, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, path
}

func msg(receiver string, i int) delivery.Message {
	return delivery.Message{ID: fmt.Sprintf("msg_%05d", i), Receiver: receiver, Event: "after_login",
		Time: time.Unix(1_700_000_000, 0).UTC(), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func ids(ms []delivery.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// A message goes through its life: enqueued, leased (and hidden), its
// lease run out (due again), retried, dead, replayed, delivered; the
// counts follow, and it survives a reopen at each step.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	q, path := openTest(t, clock)
	reopen := func() {
		t.Helper()
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		var err error
		if q, err = Open(path, Options{Now: clock.Now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, msg("crm", 1), msg("crm", 2), msg("audit", 3)); err != nil {
		t.Fatal(err)
	}
	// Enqueuing again is a no-op.
	if err := q.Enqueue(ctx, msg("crm", 1)); err != nil {
		t.Fatal(err)
	}
	reopen()
	wantCounts(t, q, map[string]delivery.Counts{
		"crm":   {Pending: 2, OldestPending: clock.Now()},
		"audit": {Pending: 1, OldestPending: clock.Now()},
	})
	now := clock.Now()
	got, next, err := q.Lease(ctx, "crm", now, 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00001" || !next.Equal(now) {
		t.Fatalf("Lease = %v, next %v, %v", ids(got), next, err)
	}
	if string(got[0].Payload) != `{"n":1}` || got[0].Event != "after_login" || got[0].Receiver != "crm" {
		t.Fatalf("leased %+v", got[0])
	}
	got, next, err = q.Lease(ctx, "crm", now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00002" || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("second Lease = %v, next %v, %v", ids(got), next, err)
	}
	if got, _, _ := q.Lease(ctx, "crm", now, 10, time.Minute); len(got) != 0 {
		t.Fatalf("leased messages leased again: %v", ids(got))
	}
	reopen()
	// The leases run out: both are due again.
	clock.Add(time.Minute)
	got, _, err = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("after the lease: %v, %v", ids(got), err)
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
	reopen()
	if _, err := q.Get(ctx, "msg_00002"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Get of a delivered message: %v", err)
	}
	e, err := q.Get(ctx, "msg_00001")
	if err != nil || e.State != delivery.Pending || e.Attempt != 1 || e.LastStatus != 503 || !e.NextAt.Equal(m1.NextAt) {
		t.Fatalf("Get after Retry = %+v, %v", e, err)
	}
	if got, next, _ := q.Lease(ctx, "crm", clock.Now(), 10, time.Minute); len(got) != 0 || !next.Equal(m1.NextAt) {
		t.Fatalf("a retried message leased before its time: %v, next %v", ids(got), next)
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
	wantCounts(t, q, map[string]delivery.Counts{
		"crm":   {Dead: 1},
		"audit": {Pending: 1, OldestPending: now},
	})
	page, err := q.List(ctx, delivery.ListQuery{Receiver: "crm", State: delivery.Dead})
	if err != nil || len(page.Entries) != 1 || page.Entries[0].ID != "msg_00001" || !page.Entries[0].DeadAt.Equal(clock.Now()) || page.Next != "" {
		t.Fatalf("dead letters: %+v, %v", page, err)
	}
	clock.Add(time.Minute)
	n, err := q.Replay(ctx, delivery.ReplayQuery{ID: "msg_00001"}, clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	if n, err := q.Replay(ctx, delivery.ReplayQuery{ID: "msg_00001"}, clock.Now()); err != nil || n != 0 {
		t.Fatalf("Replay of a pending message = %d, %v", n, err)
	}
	if _, err := q.Replay(ctx, delivery.ReplayQuery{ID: "nope"}, clock.Now()); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("Replay of an unknown id: %v", err)
	}
	reopen()
	got, _, _ = q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if len(got) != 1 || got[0].ID != "msg_00001" || got[0].Attempt != 0 || !got[0].NextAt.Equal(clock.Now()) {
		t.Fatalf("replayed: %+v", got)
	}
	if err := q.Done(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, q, map[string]delivery.Counts{"audit": {Pending: 1, OldestPending: now}})
	q.Close()
}

func wantCounts(t *testing.T, q *Queue, want map[string]delivery.Counts) {
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

// Lease gives due messages in due order, then ID, and only the
// receiver's; List pages through them with a cursor.
func TestOrderAndPaging(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	q, _ := openTest(t, clock)
	var all []delivery.Message
	for i := range 25 {
		m := msg("crm", i)
		m.NextAt = clock.Now().Add(time.Duration(25-i) * time.Second) // due in the reverse order
		all = append(all, m, msg("other", 100+i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
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
	var listed []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page, err := q.List(ctx, delivery.ListQuery{Receiver: "other", State: delivery.Pending, Cursor: cursor, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			listed = append(listed, e.ID)
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(listed) != 25 || listed[0] != "msg_00100" || listed[24] != "msg_00124" {
		t.Fatalf("listed %v", listed)
	}
	for _, bad := range []delivery.ListQuery{{State: delivery.Pending}, {Receiver: "crm", State: "lost"}, {Receiver: "crm", State: delivery.Dead, Cursor: "zz"}} {
		if _, err := q.List(ctx, bad); !errors.Is(err, delivery.ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

// Replay by receiver and by time moves the dead letters that died since
// then, in steps larger than one commit's.
func TestReplayByReceiverAndTime(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	q, _ := openTest(t, clock)
	const n = 1200 // more than two replay steps
	var all []delivery.Message
	for i := range n {
		all = append(all, msg([]string{"a", "b"}[i%2], i))
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
	moved, err := q.Replay(ctx, delivery.ReplayQuery{Receiver: "a", Since: since}, clock.Now())
	if err != nil || moved != n/4 {
		t.Fatalf("replay of a since then = %d, %v; want %d", moved, err, n/4)
	}
	moved, err = q.Replay(ctx, delivery.ReplayQuery{}, clock.Now())
	if err != nil || moved != n-n/4 {
		t.Fatalf("replay of all = %d, %v; want %d", moved, err, n-n/4)
	}
	c, _ := q.Counts(ctx)
	if c["a"].Pending != n/2 || c["a"].Dead != 0 || c["b"].Pending != n/2 || c["b"].Dead != 0 {
		t.Fatalf("counts after replay: %+v", c)
	}
}

// Bad messages are refused with ErrInvalid, and none of a call's are
// stored.
func TestEnqueueRefusesBadMessages(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t, nil)
	good := msg("crm", 1)
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
}

// Concurrent Enqueue calls share commits.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t, nil)
	const producers, each = 50, 20
	before := q.commits.Load()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := q.Enqueue(ctx, msg("crm", p*each+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	commits := q.commits.Load() - before
	t.Logf("%d enqueues in %d commits", producers*each, commits)
	if commits >= producers*each {
		t.Fatalf("%d enqueues took %d commits: no group commit", producers*each, commits)
	}
	c, _ := q.Counts(ctx)
	if c["crm"].Pending != producers*each {
		t.Fatalf("pending %d", c["crm"].Pending)
	}
}

// A closed queue says so.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	q, _ := openTest(t, nil)
	q.Close()
	if err := q.Enqueue(ctx, msg("crm", 1)); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	if _, _, err := q.Lease(ctx, "crm", time.Now(), 1, time.Minute); !errors.Is(err, delivery.ErrClosed) {
		t.Fatalf("Lease after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
