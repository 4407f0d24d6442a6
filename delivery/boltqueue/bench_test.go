package boltqueue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// Durable enqueue from many concurrent producers (requests that raised an
// event), one message of 600 bytes each: events/s and the latency each
// request adds (p50, p99), fsync on.
func BenchmarkEnqueueConcurrent(b *testing.B) {
	for _, producers := range []int{16, 64, 256} {
		b.Run(fmt.Sprint(producers, "producers"), func(b *testing.B) {
			q, _ := openTest(b, nil)
			payload := make([]byte, 600)
			var mu sync.Mutex
			var lat []time.Duration
			var next int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for range producers {
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
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
			b.ReportMetric(float64(b.N)/float64(q.commits.Load()), "events/commit")
		})
	}
}

func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
