package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
	"github.com/idphooks/idphooks/store/redisstore"
)

// benchRedis is the redis-server of the benchmarks' Redis modes, started
// at the first one that needs it, so that the package's tests never wait
// for it; TestMain stops it.
var benchRedis struct {
	once sync.Once
	s    *redistest.Server
	err  error
}

// startBenchRedis starts the server once (AOF with appendfsync everysec,
// Redis' default for the append-only file); without redis-server
// installed the benchmark is skipped, outside CI.
func startBenchRedis(b *testing.B) *redistest.Server {
	b.Helper()
	benchRedis.once.Do(func() {
		benchRedis.s, benchRedis.err = redistest.Start(redistest.Options{AppendFsync: "everysec"})
	})
	if redistest.Skip(benchRedis.err) {
		b.Skip(benchRedis.err)
	}
	if benchRedis.err != nil {
		b.Fatal(benchRedis.err)
	}
	return benchRedis.s
}

// stopBenchRedis stops the server if a benchmark started it.
func stopBenchRedis() {
	if benchRedis.s != nil {
		benchRedis.s.Close()
	}
}

// redisRTT is the mean round trip of a PING to addr on one connection,
// over 2000 of them after a warm-up.
func redisRTT(b *testing.B, addr string) time.Duration {
	b.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1, DisableIdentity: true, Protocol: 2})
	defer c.Close()
	ctx := context.Background()
	const n = 2000
	for range 200 {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for range n {
		if err := c.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / n
}

// redisSetMany is the mean time of what one rewritten token answer
// writes, measured outside Caddy: two swap entries of 1.3 KB in one
// redisstore SetMany (a MULTI of two SETs) on a redisconn.Conn, 2000
// times after a warm-up.
func redisSetMany(b *testing.B, addr string) time.Duration {
	b.Helper()
	conn, err := redisconn.Open(redisconn.Options{Address: addr, Prefix: fmt.Sprintf("bench-setmany-%d:", os.Getpid())})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	bucket := redisstore.New(conn).Bucket("swaps")
	value := make([]byte, 1300)
	ctx := context.Background()
	write := func(i int) {
		err := bucket.SetMany(ctx, []store.Entry{
			{Key: strconv.Itoa(2 * i), Value: value, TTL: time.Hour},
			{Key: strconv.Itoa(2*i + 1), Value: value, TTL: time.Hour},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := range 200 {
		write(i)
	}
	const n = 2000
	start := time.Now()
	for i := range n {
		write(i)
	}
	return time.Since(start) / n
}

// loadCaddyPair loads one Caddy config with two servers, each an
// idp_hooks handler (handlers[i], as e2etest.LoadCaddy builds them: the
// upstream, an embedded state file under dir unless the handler names
// a state) before a reverse_proxy to the upstream, and returns their
// origins. Caddy is process-global: the config replaces the one before
// and stops with the benchmark.
func loadCaddyPair(b *testing.B, dir, upstream string, handlers ...map[string]any) []string {
	b.Helper()
	up, err := url.Parse(upstream)
	if err != nil {
		b.Fatal(err)
	}
	servers := map[string]any{}
	var origins []string
	for i, h := range handlers {
		addr := e2etest.FreeAddr(b)
		handler := map[string]any{"handler": "idp_hooks", "upstream": upstream}
		if _, ok := h["state"]; !ok {
			handler["state_path"] = filepath.Join(dir, fmt.Sprintf("state-%d.db", i))
		}
		maps.Copy(handler, h)
		servers[fmt.Sprintf("idp%d", i)] = map[string]any{
			"listen":          []string{addr},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{handler,
				map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": up.Host}}}}}},
		}
		origins = append(origins, "http://"+addr)
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps":    map[string]any{"http": map[string]any{"servers": servers}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		b.Fatalf("loading caddy config: %v", err)
	}
	b.Cleanup(func() { _ = caddy.Stop() })
	return origins
}
