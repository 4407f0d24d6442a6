package redisqueue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/queuetest"
	"github.com/idphooks/idphooks/internal/fakeclock"
)

// Two instances (a Conn and Queue each) lease from one receiver at once:
// every message is handed out, none twice while its lease is live.
func TestTwoInstancesShareWork(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	a, b := newQueue(t, prefix, Options{}), newQueue(t, prefix, Options{})
	const n = 5000
	var all []delivery.Message
	for i := range n {
		all = append(all, queuetest.Msg("crm", i))
	}
	for i := 0; i < n; i += 500 {
		if err := a.Enqueue(ctx, all[i:i+500]...); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	per := map[*Queue]int{}
	var wg sync.WaitGroup
	for _, q := range []*Queue{a, b, a, b, a, b} {
		wg.Go(func() {
			for {
				got, _, err := q.Lease(ctx, "crm", time.Now(), 25, time.Hour)
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
				per[q] += len(got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("instance a leased %d, b %d", per[a], per[b])
	if len(seen) != n {
		t.Fatalf("leased %d distinct of %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s handed out %d times", id, c)
		}
	}
	if per[a] == 0 || per[b] == 0 {
		t.Fatalf("one instance got nothing: %v", per)
	}
}

// An instance that dies holding leases: the other sees when they run
// out (Lease's next), and leases them then.
func TestLeaseExpiryReclaimedByOther(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	prefix := newPrefix()
	a, b := newQueue(t, prefix, clockOpts(clock)), newQueue(t, prefix, clockOpts(clock))
	if err := a.Enqueue(ctx, queuetest.Msg("crm", 1), queuetest.Msg("crm", 2)); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	got, _, err := a.Lease(ctx, "crm", now, 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("a leased %v, %v", queuetest.IDs(got), err)
	}
	a.Close() // a dies with its leases
	got, next, err := b.Lease(ctx, "crm", now.Add(time.Second), 10, time.Minute)
	if err != nil || len(got) != 0 || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("b during a's lease: %v, next %v, %v", queuetest.IDs(got), next, err)
	}
	got, _, err = b.Lease(ctx, "crm", next, 10, time.Minute)
	if err != nil || len(got) != 2 || got[0].ID != "msg_00001" {
		t.Fatalf("b at the lease's end: %v, %v", queuetest.IDs(got), err)
	}
	for _, m := range got {
		if err := b.Done(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	queuetest.WantCounts(t, b, map[string]delivery.Counts{})
}

// A holder whose lease ran out while it still worked (a long GC pause, a
// slow receiver) and another took the message over: its late Retry or
// Dead is ignored, so it neither moves the new holder's lease (which
// would let a third take the message while the second delivers it) nor
// buries a message the second may still deliver. The new holder's own
// Retry counts.
func TestStaleLeaseHolderIsIgnored(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	prefix := newPrefix()
	a, b := newQueue(t, prefix, clockOpts(clock)), newQueue(t, prefix, clockOpts(clock))
	if err := a.Enqueue(ctx, queuetest.Msg("crm", 1)); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	byA, _, err := a.Lease(ctx, "crm", now, 10, time.Minute)
	if err != nil || len(byA) != 1 {
		t.Fatalf("a leased %v, %v", queuetest.IDs(byA), err)
	}
	later := now.Add(2 * time.Minute)
	byB, _, err := b.Lease(ctx, "crm", later, 10, time.Minute)
	if err != nil || len(byB) != 1 {
		t.Fatalf("b after a's lease ran out: %v, %v", queuetest.IDs(byB), err)
	}
	stale := byA[0]
	stale.Attempt, stale.LastError, stale.NextAt = 1, "timeout", later
	if err := a.Retry(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := a.Dead(ctx, stale); err != nil {
		t.Fatal(err)
	}
	// b's lease stands: nobody else leases the message during it.
	if got, _, err := a.Lease(ctx, "crm", later.Add(time.Second), 10, time.Minute); err != nil || len(got) != 0 {
		t.Fatalf("a's stale Retry reopened b's lease: %v, %v", queuetest.IDs(got), err)
	}
	e, err := b.Get(ctx, stale.ID)
	if err != nil || e.Attempt != 0 || e.State != delivery.Pending {
		t.Fatalf("after a's stale calls: %+v, %v", e, err)
	}
	// The holder's own Retry works.
	mine := byB[0]
	mine.Attempt, mine.NextAt = 1, later.Add(time.Hour)
	if err := b.Retry(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if e, err := b.Get(ctx, mine.ID); err != nil || e.Attempt != 1 {
		t.Fatalf("b's Retry: %+v, %v", e, err)
	}
}

// Concurrent Enqueue calls share script calls.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t, newPrefix(), Options{})
	const producers, each = 50, 20
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				if err := q.Enqueue(ctx, queuetest.Msg("crm", p*each+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	batches := q.batches.Load()
	t.Logf("%d enqueues in %d batches", producers*each, batches)
	if batches >= producers*each {
		t.Fatalf("%d enqueues took %d batches: no group commit", producers*each, batches)
	}
	if c, _ := q.Counts(ctx); c["crm"].Pending != producers*each {
		t.Fatalf("pending %d", c["crm"].Pending)
	}
}

// The WAIT path: with 0 replicas to wait for it stores as without; with
// 1 on a Redis without replicas it fails with ErrUnavailable once the
// timeout passes, and the messages, on the primary, are not stored twice
// when enqueued again.
func TestReplicasWait(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	q := newQueue(t, prefix, Options{})
	q.waitAlways = true
	if err := q.Enqueue(ctx, queuetest.Msg("crm", 1)); err != nil {
		t.Fatal(err)
	}
	// After a SCRIPT FLUSH (as after a restart) the pipeline loads it.
	if err := q.c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, queuetest.Msg("crm", 2)); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	one, err := New(newConn(t, prefix), Options{Replicas: 1, ReplicaTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	err = one.Enqueue(ctx, queuetest.Msg("crm", 3))
	if !errors.Is(err, delivery.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas") {
		t.Fatalf("Enqueue waiting for a replica that is not there: %v", err)
	}
	if err := q.Enqueue(ctx, queuetest.Msg("crm", 3)); err != nil {
		t.Fatal(err)
	}
	if c, _ := q.Counts(ctx); c["crm"].Pending != 3 {
		t.Fatalf("counts %+v", c)
	}
	if _, err := New(newConn(t, prefix), Options{Replicas: -1}); err == nil {
		t.Fatal("negative Replicas accepted")
	}
}

// Keys of the wrong type, hashes with fields missing or garbage: clear
// errors or the message skipped or buried, never a panic, and the rest
// of the queue goes on.
func TestHostileData(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := newQueue(t, newPrefix(), clockOpts(clock))
	rdb, base := q.c, q.base
	var all []delivery.Message
	for i := range 6 {
		all = append(all, queuetest.Msg("crm", i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	// 0: a field gone; 1: a number that is not; 2: the hash gone; 3: a
	// string in its place; 4: the state garbage.
	rdb.HDel(ctx, base+"m:msg_00000", "p")
	rdb.HSet(ctx, base+"m:msg_00001", "a", "many")
	rdb.Del(ctx, base+"m:msg_00002")
	rdb.Del(ctx, base+"m:msg_00003")
	rdb.Set(ctx, base+"m:msg_00003", "hello", 0)
	rdb.HSet(ctx, base+"m:msg_00004", "st", "zz")
	got, _, err := q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00005" {
		t.Fatalf("Lease among damaged messages: %v, %v", queuetest.IDs(got), err)
	}
	for _, id := range []string{"msg_00000", "msg_00001"} {
		e, err := q.Get(ctx, id)
		if err != nil || e.State != delivery.Dead || !strings.Contains(e.LastError, "damaged") {
			t.Fatalf("a damaged message buried: %+v, %v", e, err)
		}
		t.Logf("%s: %s", id, e.LastError)
	}
	if _, err := q.Get(ctx, "msg_00003"); err == nil || errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Get of a string key: %v", err)
	} else {
		t.Logf("Get of a string key: %v", err)
	}
	if _, err := q.Get(ctx, "msg_00004"); !errors.Is(err, errDamaged) {
		t.Fatalf("Get of a garbage state: %v", err)
	}
	if err := q.Done(ctx, queuetest.Msg("crm", 3)); err == nil || errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Done on a string key: %v", err)
	}
	// An Enqueue whose message key is taken by a string is refused,
	// alone: the call beside it in its batch is stored.
	bad := queuetest.Msg("crm", 3)
	var wg sync.WaitGroup
	var errBad, errGood error
	wg.Go(func() { errBad = q.Enqueue(ctx, bad, queuetest.Msg("crm", 50)) })
	wg.Go(func() { errGood = q.Enqueue(ctx, queuetest.Msg("crm", 51)) })
	wg.Wait()
	if errBad == nil || errors.Is(errBad, delivery.ErrUnavailable) || errGood != nil {
		t.Fatalf("Enqueue beside a string key: %v; the other: %v", errBad, errGood)
	}
	if _, err := q.Get(ctx, "msg_00050"); !errors.Is(err, delivery.ErrNotFound) {
		t.Fatalf("a refused call stored a message: %v", err)
	}
	// A receiver's index of the wrong type.
	rdb.Set(ctx, base+"due:evil", "x", 0)
	if _, _, err := q.Lease(ctx, "evil", clock.Now(), 10, time.Minute); err == nil {
		t.Fatal("Lease of a string index")
	}
	if err := q.Enqueue(ctx, queuetest.Msg("evil", 60)); err == nil || !strings.Contains(err.Error(), "due:evil") {
		t.Fatalf("Enqueue to a string index: %v", err)
	}
	if _, err := q.List(ctx, delivery.ListQuery{Receiver: "crm", State: delivery.Dead}); err != nil {
		t.Fatalf("List of dead letters beside damage: %v", err)
	}
	if _, err := q.Counts(ctx); err != nil {
		t.Fatalf("Counts beside damage: %v", err)
	}
	// The receivers set replaced: every call says so.
	rdb.Del(ctx, base+"receivers")
	rdb.Set(ctx, base+"receivers", "x", 0)
	if _, err := q.Counts(ctx); err == nil || !strings.Contains(err.Error(), "receivers") {
		t.Fatalf("Counts on a string receivers key: %v", err)
	}
	if err := q.Enqueue(ctx, queuetest.Msg("crm", 70)); err == nil {
		t.Fatal("Enqueue on a string receivers key")
	}
	if q.conn.Failing() {
		t.Fatal("damaged data counted as Redis unavailable")
	}
}

// A message someone wrote into Redis without the cluster's secret (or
// changed: another payload, another receiver) is never handed out to be
// signed and sent: it is buried as damaged, and stays so when replayed.
// The queue's bookkeeping (attempts, errors) may change without it.
func TestForgedMessagesAreBuried(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New()
	q := newQueue(t, newPrefix(), clockOpts(clock))
	rdb, base := q.c, q.base
	var all []delivery.Message
	for i := range 4 {
		all = append(all, queuetest.Msg("crm", i))
	}
	if err := q.Enqueue(ctx, all...); err != nil {
		t.Fatal(err)
	}
	// 0: its payload changed; 1: its MAC gone; 2: its MAC another
	// message's; 3: only bookkeeping changed.
	rdb.HSet(ctx, base+"m:msg_00000", "p", `{"type":"after_password_reset","data":{"user":"ceo"}}`)
	rdb.HDel(ctx, base+"m:msg_00001", "mac")
	other, _ := rdb.HGet(ctx, base+"m:msg_00003", "mac").Result()
	rdb.HSet(ctx, base+"m:msg_00002", "mac", other)
	rdb.HSet(ctx, base+"m:msg_00003", "a", "2", "e", "timeout")
	got, _, err := q.Lease(ctx, "crm", clock.Now(), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "msg_00003" {
		t.Fatalf("Lease among forged messages: %v, %v", queuetest.IDs(got), err)
	}
	for _, id := range []string{"msg_00000", "msg_00001", "msg_00002"} {
		e, err := q.Get(ctx, id)
		if err != nil || e.State != delivery.Dead || !strings.Contains(e.LastError, "MAC") {
			t.Fatalf("a forged message: %+v, %v", e, err)
		}
	}
	if n, err := q.Replay(ctx, delivery.ReplayQuery{ID: "msg_00000"}, clock.Now()); err != nil || n != 1 {
		t.Fatalf("Replay: %d %v", n, err)
	}
	clock.Add(2 * time.Minute)
	if got, _, err := q.Lease(ctx, "crm", clock.Now(), 10, time.Minute); err != nil || len(got) != 1 || got[0].ID != "msg_00003" {
		t.Fatalf("a replayed forged message was handed out: %v, %v", queuetest.IDs(got), err)
	}
}
