package delivery_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// From the end of an Enqueue (the commit) to the request at a healthy
// loopback receiver, with 8 producers enqueueing one message at a time:
// p50 and p99.
func BenchmarkDeliveryLatency(b *testing.B) {
	var committed sync.Map // id → time.Time
	var mu sync.Mutex
	var lat []time.Duration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		if t, ok := committed.Load(r.Header.Get("webhook-id")); ok {
			mu.Lock()
			lat = append(lat, now.Sub(t.(time.Time)))
			mu.Unlock()
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	q := openQueue(b, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	d, err := delivery.New(delivery.Options{Queue: q, Receivers: map[string]delivery.Receiver{
		"crm": {Sender: postSender{url: srv.URL, client: client}, Concurrency: 16},
	}})
	if err != nil {
		b.Fatal(err)
	}
	d.Start(context.Background())
	defer d.Close(context.Background())
	b.ResetTimer()
	var wg sync.WaitGroup
	var next sync.Mutex
	n := 0
	for range 8 {
		wg.Go(func() {
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= b.N {
					return
				}
				m := delivery.Message{ID: delivery.NewID(), Receiver: "crm", Event: "after_login", Time: time.Now(), Payload: []byte(`{"type":"after_login"}`)}
				if err := d.Enqueue(context.Background(), m); err != nil {
					b.Error(err)
					return
				}
				committed.Store(m.ID, time.Now())
			}
		})
	}
	wg.Wait()
	waitFor(b, "delivery", func() bool {
		c, _ := q.Counts(context.Background())
		return c["crm"].Pending == 0
	})
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat)), "measured")
	b.ReportMetric(msf(quantileOf(lat, 0.5)), "p50-ms")
	b.ReportMetric(msf(quantileOf(lat, 0.99)), "p99-ms")
}

// 100,000 messages of 600 bytes queued for a receiver that is down (it
// answers 503), with the Deliverer running: what the process's resident
// memory grew by (anonymous: the heap; file: bbolt's mapped pages).
func BenchmarkBacklogRSS(b *testing.B) {
	for range b.N {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
		q := openQueue(b, nil)
		d, err := delivery.New(delivery.Options{Queue: q, Receivers: map[string]delivery.Receiver{
			"crm": {Sender: postSender{url: srv.URL}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		d.Start(context.Background())
		anon0, file0 := rss(b)
		payload := []byte(`{"type":"after_login","data":{"user":{"sub":"` + strings.Repeat("x", 540) + `"}}}`)
		const total, batch = 100_000, 100
		var wg sync.WaitGroup
		for p := range 8 {
			wg.Go(func() {
				for i := p * batch; i < total; i += 8 * batch {
					msgs := make([]delivery.Message, batch)
					for j := range msgs {
						msgs[j] = delivery.Message{ID: delivery.NewID(), Receiver: "crm", Event: "after_login", Time: time.Now(), Payload: payload}
					}
					if err := d.Enqueue(context.Background(), msgs...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		// Let the deliverer try (and fail) for a while over the backlog.
		time.Sleep(2 * time.Second)
		anon1, file1 := rss(b)
		c, _ := q.Counts(context.Background())
		h, _ := d.Health(context.Background())
		d.Close(context.Background())
		srv.Close()
		fi, _ := os.Stat(q.Path())
		b.ReportMetric(float64(c["crm"].Pending), "queued")
		b.ReportMetric(float64(anon1-anon0)/(1<<20), "rss-anon-growth-MiB")
		b.ReportMetric(float64(file1-file0)/(1<<20), "rss-file-growth-MiB")
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
		b.Logf("health: %+v", h)
	}
}

// rss reads the process's resident anonymous and file-backed memory.
func rss(b *testing.B) (anon, file int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return anon, file
}

func quantileOf(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
