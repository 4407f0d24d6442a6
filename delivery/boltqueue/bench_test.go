package boltqueue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/internal/cputime"
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
			start, cpu := time.Now(), cputime.Process()
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
			elapsed, cpu := time.Since(start), cputime.Process()-cpu
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
			b.ReportMetric(float64(b.N)/float64(q.commits.Load()), "events/commit")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
		})
	}
}

// Durable enqueue at a steady rate, as requests arrive at a server: each
// event is raised by a request of its own (a goroutine started on
// schedule, whether or not earlier ones have their answer), so the
// latency is what the queue adds to a request at that rate, not the
// queueing of a fixed set of producers (with N producers always waiting,
// latency is N divided by the rate whatever the queue does). events/s is
// the rate reached, p50/p99/p999 the latency each request saw.
func BenchmarkEnqueueAtRate(b *testing.B) {
	for _, rate := range []int{10000, 20000} {
		b.Run(fmt.Sprint(rate, "perSec"), func(b *testing.B) {
			q, _ := openTest(b, nil)
			payload := make([]byte, 600)
			lat := make([]time.Duration, b.N)
			interval := time.Second / time.Duration(rate)
			var wg sync.WaitGroup
			b.ResetTimer()
			start, cpu := time.Now(), cputime.Process()
			for sent := 0; sent < b.N; {
				// Start every request due by now: the scheduler's wake-ups
				// are coarser than the interval.
				due := min(b.N, int(time.Since(start)/interval)+1)
				for ; sent < due; sent++ {
					i := sent
					wg.Go(func() {
						m := delivery.Message{ID: delivery.NewID(), Receiver: "crm", Event: "after_login", Time: time.Now(), Payload: payload}
						t := time.Now()
						if err := q.Enqueue(context.Background(), m); err != nil {
							b.Error(err)
						}
						lat[i] = time.Since(t)
					})
				}
				time.Sleep(interval)
			}
			wg.Wait()
			elapsed, cpu := time.Since(start), cputime.Process()-cpu
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(quantile(lat, 0.999)), "p999-ms")
			b.ReportMetric(float64(b.N)/float64(q.commits.Load()), "events/commit")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
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
