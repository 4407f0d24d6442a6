package redisqueue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// Durable enqueue (appendfsync always) from 64 concurrent producers, one
// message of 600 bytes each, through one or two instances (a Conn and
// Queue each, as two Caddy processes): events/s and the latency each
// request adds (p50, p99).
func BenchmarkEnqueueConcurrent(b *testing.B) {
	for _, c := range []struct{ conns, committers int }{{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}} {
		conns := c.conns
		b.Run(fmt.Sprintf("%dconns-%dcommitters-64producers", conns, c.committers), func(b *testing.B) {
			prefix := newPrefix()
			var qs []*Queue
			for range conns {
				qs = append(qs, newQueue(b, prefix, Options{Committers: c.committers, Secret: testSecret}))
			}
			payload := make([]byte, 600)
			var mu sync.Mutex
			var lat []time.Duration
			var next int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range 64 {
				q := qs[p%conns]
				wg.Go(func() {
					var mine []time.Duration
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= int64(b.N) {
							break
						}
						m := delivery.Message{ID: delivery.NewID(), Receiver: "crm", Event: "after_login", Time: time.Now(), Payload: payload}
						t := time.Now()
						if err := q.Enqueue(context.Background(), m); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			var batches int64
			for _, q := range qs {
				batches += q.batches.Load()
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
			b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "events/batch")
			q := qs[0]
			q.c.Del(context.Background(), q.base+"due:crm", q.base+"pend:crm") // the hashes go with the server
		})
	}
}

// One worker's cycle: Lease one message, Done it (two script calls).
func BenchmarkLeaseDone(b *testing.B) {
	ctx := context.Background()
	q := newQueue(b, newPrefix(), Options{})
	payload := make([]byte, 600)
	for i := 0; i < b.N; i += 500 {
		var batch []delivery.Message
		for j := i; j < min(i+500, b.N); j++ {
			batch = append(batch, delivery.Message{ID: delivery.NewID(), Receiver: "crm", Payload: payload})
		}
		if err := q.Enqueue(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		got, _, err := q.Lease(ctx, "crm", time.Now(), 1, time.Minute)
		if err != nil || len(got) != 1 {
			b.Fatalf("Lease: %d, %v", len(got), err)
		}
		if err := q.Done(ctx, got[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkMAC is the MAC each enqueued message pays (600 bytes).
func BenchmarkMAC(b *testing.B) {
	k := newMACKey(testSecret)
	m := delivery.Message{ID: delivery.NewID(), Receiver: "https://crm.example/hook", Event: "after_login", Time: time.Now(), Payload: make([]byte, 600)}
	b.ReportAllocs()
	for b.Loop() {
		_ = k.sum(m)
	}
}
