package redisstore

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
)

// benchValue is about one sealed swap entry.
var benchValue = make([]byte, 1024)

// benchBuckets runs f on a Bucket of the package's server (appendfsync
// always: each write waits for an fsync) and of one started for the
// benchmark with appendfsync everysec (Redis' default with AOF, where a
// write costs a loopback round trip).
func benchBuckets(b *testing.B, f func(b *testing.B, s *Bucket)) {
	b.Run("fsync-always", func(b *testing.B) { f(b, newBucket(b, "bench")) })
	b.Run("fsync-everysec", func(b *testing.B) {
		if server == nil {
			b.Skip("no redis-server")
		}
		srv, err := redistest.Start(redistest.Options{AppendFsync: "everysec"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		conn, err := redisconn.Open(redisconn.Options{Address: srv.Addr})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		f(b, New(conn).Bucket("bench"))
	})
}

// One SET of a swap-sized entry over loopback.
func BenchmarkSet(b *testing.B) {
	benchBuckets(b, func(b *testing.B, s *Bucket) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Set(ctx, strconv.Itoa(i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkGet(b *testing.B) {
	benchBuckets(b, func(b *testing.B, s *Bucket) {
		ctx := context.Background()
		const n = 1000
		for i := range n {
			if err := s.Set(ctx, strconv.Itoa(i), benchValue, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, strconv.Itoa(i%n)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// A token response's two swaps (access and refresh token) in one
// SetMany: one round trip (and one fsync), against BenchmarkSet2's two.
func BenchmarkSetMany2(b *testing.B) {
	benchBuckets(b, func(b *testing.B, s *Bucket) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			err := s.SetMany(ctx, []store.Entry{
				{Key: strconv.Itoa(i), Value: benchValue, TTL: time.Hour},
				{Key: strconv.Itoa(i + 1), Value: benchValue, TTL: time.Hour},
			})
			if err != nil {
				b.Fatal(err)
			}
			i += 2
		}
	})
}

// The same two entries with two Sets.
func BenchmarkSet2(b *testing.B) {
	benchBuckets(b, func(b *testing.B, s *Bucket) {
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			for range 2 {
				if err := s.Set(ctx, strconv.Itoa(i), benchValue, time.Hour); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
	})
}

// The keyed swap table on Redis: a token response's three swaps with one
// PutAll (one round trip) and with three Puts, and the Get of a swap back.
func BenchmarkSwaps(b *testing.B) {
	token := "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + string(make([]byte, 600)) + ".sig"
	access, refresh, id := token+"a", token+"r", token+"i"
	exp := time.Now().Add(time.Hour)
	ctx := context.Background()
	benchBuckets(b, func(b *testing.B, s *Bucket) {
		w, err := store.NewSwaps(s, store.SwapOptions{Secret: make([]byte, 32)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("putall-3", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				err := w.PutAll(ctx,
					store.SwapPut{Token: access, Value: benchValue, Exp: exp},
					store.SwapPut{Token: refresh, Value: benchValue, Exp: exp},
					store.SwapPut{Token: id, Value: benchValue, Exp: exp})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("put-3", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, tok := range []string{access, refresh, id} {
					if err := w.Put(ctx, tok, benchValue, exp); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Get(ctx, access); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// A round trip after the processes went idle, as a token request's write
// meets Redis between requests, against one in a tight loop: PING and a
// token answer's SetMany (two 1.3 KB entries), each after a pause of gap
// (appendfsync everysec). The figure the Caddy benchmark's added latency
// compares with is the idle one.
func BenchmarkRoundTripAfterIdle(b *testing.B) {
	if server == nil {
		b.Skip("no redis-server")
	}
	srv, err := redistest.Start(redistest.Options{AppendFsync: "everysec"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	conn, err := redisconn.Open(redisconn.Options{Address: srv.Addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	bucket := New(conn).Bucket("idle")
	v := make([]byte, 1300)
	batch := []store.Entry{{Key: "a", Value: v, TTL: time.Hour}, {Key: "b", Value: v, TTL: time.Hour}}
	ctx := context.Background()
	for _, gap := range []time.Duration{0, time.Millisecond} {
		b.Run("gap="+gap.String(), func(b *testing.B) {
			var ping, set []time.Duration
			for b.Loop() {
				time.Sleep(gap)
				t := time.Now()
				if err := conn.Client.Ping(ctx).Err(); err != nil {
					b.Fatal(err)
				}
				ping = append(ping, time.Since(t))
				time.Sleep(gap)
				t = time.Now()
				if err := bucket.SetMany(ctx, batch); err != nil {
					b.Fatal(err)
				}
				set = append(set, time.Since(t))
			}
			slices.Sort(ping)
			slices.Sort(set)
			b.ReportMetric(float64(ping[len(ping)/2].Microseconds()), "ping-p50-µs")
			b.ReportMetric(float64(set[len(set)/2].Microseconds()), "setmany-p50-µs")
		})
	}
}
