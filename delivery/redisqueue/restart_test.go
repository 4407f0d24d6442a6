package redisqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// Redis stopped (SIGTERM) or killed (SIGKILL, appendfsync always) and
// restarted while producers enqueue: every Enqueue that returned nil is
// there afterwards, and the same Queue works again without reopening.
func TestRestartUnderLoad(t *testing.T) {
	for _, c := range []struct {
		name string
		down func() error
	}{
		{"stop", func() error { return server.Stop() }},
		{"kill", func() error { return server.Kill() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := newPrefix()
			q1, q2 := newQueue(t, prefix, Options{}), newQueue(t, prefix, Options{})
			var mu sync.Mutex
			var accepted []string
			var failed atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for p := range 32 {
				q := []*Queue{q1, q2}[p%2]
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						m := delivery.Message{ID: fmt.Sprintf("p%02d-%06d", p, i), Receiver: "crm", Payload: []byte(`{}`)}
						if err := q.Enqueue(ctx, m); err != nil {
							if !errors.Is(err, delivery.ErrUnavailable) {
								t.Errorf("Enqueue while Redis is down: %v, want ErrUnavailable", err)
							}
							failed.Add(1)
							time.Sleep(5 * time.Millisecond)
							continue
						}
						mu.Lock()
						accepted = append(accepted, m.ID)
						mu.Unlock()
					}
				})
			}
			waitAccepted := func(n int) {
				t.Helper()
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					mu.Lock()
					got := len(accepted)
					mu.Unlock()
					if got >= n {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("only %d accepted in 30 s", got)
					}
				}
			}
			waitAccepted(2000)
			if err := c.down(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			atDown := len(accepted)
			mu.Unlock()
			for failed.Load() < 50 { // the producers meet the outage
				time.Sleep(time.Millisecond)
			}
			if err := server.Restart(); err != nil {
				t.Fatal(err)
			}
			waitAccepted(atDown + 2000)
			close(stop)
			wg.Wait()
			t.Logf("%d accepted (%d before the outage), %d refused while down", len(accepted), atDown, failed.Load())
			counts, err := q1.Counts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if counts["crm"].Pending < len(accepted) {
				t.Errorf("pending %d < accepted %d", counts["crm"].Pending, len(accepted))
			}
			lost := 0
			for _, id := range accepted {
				if _, err := q2.Get(ctx, id); err != nil {
					if lost++; lost < 5 {
						t.Errorf("accepted %s: %v", id, err)
					}
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d accepted messages lost", lost, len(accepted))
			}
		})
	}
}

// Redis down: Enqueue, Lease and Counts fail at once with ErrUnavailable
// (the ctx's generous deadline is not what ends them), the Conn is in an
// episode; once Redis is back the same Queue works and the episode ends.
func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t, newPrefix(), Options{})
	if err := q.Enqueue(ctx, delivery.Message{ID: "before", Receiver: "crm"}); err != nil {
		t.Fatal(err)
	}
	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			server.Restart()
		}
	}()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := q.Enqueue(tctx, delivery.Message{ID: "during", Receiver: "crm"})
	if !errors.Is(err, delivery.ErrUnavailable) || tctx.Err() != nil {
		t.Fatalf("Enqueue with Redis down: %v (ctx %v)", err, tctx.Err())
	}
	t.Logf("Enqueue: %v", err)
	if _, _, err := q.Lease(tctx, "crm", time.Now(), 1, time.Minute); !errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Lease with Redis down: %v", err)
	}
	if _, err := q.Counts(tctx); !errors.Is(err, delivery.ErrUnavailable) {
		t.Fatalf("Counts with Redis down: %v", err)
	}
	if !q.conn.Failing() {
		t.Fatal("no episode")
	}
	if err := server.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if err := q.Enqueue(ctx, delivery.Message{ID: "after", Receiver: "crm"}); err != nil {
		t.Fatalf("Enqueue once Redis is back: %v", err)
	}
	if q.conn.Failing() {
		t.Fatal("the episode did not end")
	}
	got, _, err := q.Lease(ctx, "crm", time.Now(), 10, time.Minute)
	if err != nil || len(got) != 2 {
		t.Fatalf("Lease once Redis is back: %v, %v", got, err)
	}
}
