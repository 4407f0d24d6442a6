package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interceptors/oidc"
	"github.com/idphooks/idphooks/internal/logevery"
	"github.com/idphooks/idphooks/sandbox"
	"github.com/idphooks/idphooks/store"
)

// Pools keep state across config reloads: bbolt locks its file, so the
// new config must reuse the old one's handle rather than open it again; the
// upstream's discovery and key caches stay warm.
var (
	states    = caddy.NewUsagePool()
	upstreams = caddy.NewUsagePool()
)

type stateValue struct{ db *store.Bolt }

func (s stateValue) Destruct() error { return s.db.Close() }

type upstreamValue struct{ *oidc.Upstream }

func (upstreamValue) Destruct() error { return nil }

// stateMetrics are the state store's collectors: one set for the process,
// since a store outlives the config (and the metrics registry) it was
// opened under, registered again in each config's registry.
var stateMetrics = sync.OnceValues(func() (*store.Metrics, error) { return store.NewMetrics(nil) })

// openStateStore opens (or shares) the embedded database at path and
// returns the swap table (keyed with secret, and reading the entries
// written before there was one) and the hooks' cache in it, each capped at
// maxEntries (0: store.DefaultMaxEntries; negative: no cap). The store
// logs to logger and counts in reg (nil: nowhere). It outlives a config
// reload: the new config's cap applies to it and its collectors join the
// new registry, while the logger stays the first config's.
func openStateStore(path string, maxEntries int, secret []byte, logger *zap.Logger, reg prometheus.Registerer) (*store.Swaps, sandbox.Cache, string, error) {
	metrics, err := stateMetrics()
	if err == nil && reg != nil {
		err = metrics.Register(reg)
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("idp_hooks: state store metrics: %w", err)
	}
	key := "state:" + path
	v, _, err := states.LoadOrNew(key, func() (caddy.Destructor, error) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		// Swap entries are committed in batches every 50 ms and flushed
		// to disk every second, rather than a transaction and an fsync on
		// every token response (38 µs and 400 µs): a Caddy crash loses at
		// most 50 ms of them, a machine crash a second; those clients log
		// in again. A write that cannot be committed (a full disk) makes
		// the next ones fail, so that token responses answer 503 instead
		// of handing out tokens that would not swap back.
		db, err := store.OpenBolt(path, store.BoltOptions{
			SyncEvery:   time.Second,
			WriteBehind: 50 * time.Millisecond,
			MaxEntries:  maxEntries,
			Logger:      logger,
			Metrics:     metrics,
		})
		if err != nil {
			return nil, err
		}
		return stateValue{db}, nil
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("idp_hooks: state store %s: %w", path, err)
	}
	db := v.(stateValue).db
	db.SetMaxEntries(maxEntries)
	swaps, err := store.NewSwaps(db.Bucket("swaps"), store.SwapOptions{Secret: secret, ReadUnkeyed: true})
	if err != nil {
		_, _ = states.Delete(key)
		return nil, nil, "", fmt.Errorf("idp_hooks: state store %s: %w", path, err)
	}
	return swaps, hookCache{s: db.Bucket("cache")}, key, nil
}

// hookCache puts the hooks' cache global on a state store, so cached
// values survive restarts and reloads (and, on Redis, are shared).
type hookCache struct {
	s store.Store
	// unsealed, on a store.Sealed, says (at most once a minute) that
	// entries did not open; each is a miss, which the hook fills again.
	unsealed *sometimes
}

func (c hookCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := c.s.Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case errors.Is(err, store.ErrUnsealed):
		// Written without the secret (a hand in Redis, an instance on
		// other storage) or damaged: the hook must not read it, and its
		// run must not fail for it.
		c.unsealed.warn(err)
		return nil, false, nil
	}
	return b, err == nil, err
}

// sometimes logs a warning at most once a minute, counting the rest.
type sometimes struct {
	log   *zap.Logger
	msg   string
	every logevery.Limiter
	n     atomic.Int64
}

func (s *sometimes) warn(err error) {
	if s == nil {
		return
	}
	s.n.Add(1)
	if s.every.Due("", time.Now()) {
		s.log.Warn(s.msg, zap.Int64("entries", s.n.Swap(0)), zap.Error(err))
	}
}

func (c hookCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.s.Set(ctx, key, value, ttl)
}

func (c hookCache) Delete(ctx context.Context, key string) error { return c.s.Delete(ctx, key) }
