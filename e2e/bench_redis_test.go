package e2e

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/internal/redistest"
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
	if errors.Is(benchRedis.err, redistest.ErrNoRedis) && os.Getenv("CI") == "" {
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
