package sandbox

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// Cache is where the cache global keeps its entries. Keys arrive already
// namespaced by hook. Implementations must honour ctx: a run never waits
// past its deadline.
type Cache interface {
	// Get returns the value of a live entry; ok is false for a missing or
	// expired one.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes an entry; a missing one is no error.
	Delete(ctx context.Context, key string) error
}

// Limits of cache entries written by hooks.
const (
	maxCacheKey   = 512
	maxCacheValue = 64 << 10
	defaultTTL    = 5 * time.Minute
	maxTTL        = 24 * time.Hour
)

// newCache builds the cache global. Values are stored as JSON, so a hook
// gets back a copy of what it stored, never a shared object.
//
//	await cache.set(key, value, { ttl: 60 })   // seconds; default 300
//	await cache.get(key)                       // value or undefined
//	await cache.delete(key)
func (rt *runtime) newCache() *goja.Object {
	o := rt.vm.NewObject()
	_ = o.Set("get", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		key := c.cacheKey(fc)
		return c.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			b, ok, err := c.hook.engine.opts.Cache.Get(ctx, key)
			if err != nil || !ok {
				return func() (goja.Value, error) { return goja.Undefined(), nil }, err
			}
			return func() (goja.Value, error) {
				var v any
				if err := json.Unmarshal(b, &v); err != nil {
					return goja.Undefined(), nil
				}
				return toJS(c.vm, v), nil
			}, nil
		})
	})
	_ = o.Set("set", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		key := c.cacheKey(fc)
		b, err := json.Marshal(fc.Argument(1).Export())
		if err != nil {
			panic(c.typeError("cache.set: value is not JSON: %v", err))
		}
		if len(b) > maxCacheValue {
			panic(c.typeError("cache.set: value is larger than %d bytes", maxCacheValue))
		}
		ttl := defaultTTL
		if opts, ok := fc.Argument(2).(*goja.Object); ok {
			if s := opts.Get("ttl"); s != nil && !goja.IsUndefined(s) {
				ttl = time.Duration(s.ToFloat() * float64(time.Second))
			}
		}
		if ttl <= 0 || ttl > maxTTL {
			panic(c.typeError("cache.set: ttl must be between 0 and %d seconds", int(maxTTL/time.Second)))
		}
		return c.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			err := c.hook.engine.opts.Cache.Set(ctx, key, b, ttl)
			return func() (goja.Value, error) { return goja.Undefined(), nil }, err
		})
	})
	_ = o.Set("delete", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		key := c.cacheKey(fc)
		return c.async(func(ctx context.Context) (func() (goja.Value, error), error) {
			err := c.hook.engine.opts.Cache.Delete(ctx, key)
			return func() (goja.Value, error) { return goja.Undefined(), nil }, err
		})
	})
	return o
}

// cacheKey namespaces the key by hook file, so hooks never read each
// other's entries: by the hash of the file's absolute path, not its name
// (two tenants' enrich.js differ), fixed-length so no key can reach into
// another namespace.
func (c *call) cacheKey(fc goja.FunctionCall) string {
	k := c.argString(fc, 0, "cache")
	if len(k) == 0 || len(k) > maxCacheKey {
		panic(c.typeError("cache: key must be 1 to %d bytes", maxCacheKey))
	}
	return "hook/" + c.hook.cacheNS + "/" + k
}

// MemoryCache is the default Cache: a bounded map in process memory.
type MemoryCache struct {
	max     int
	mu      sync.Mutex
	entries map[string]memoryEntry
}

type memoryEntry struct {
	value   []byte
	expires time.Time
}

// NewMemoryCache returns a cache holding at most max entries.
func NewMemoryCache(max int) *MemoryCache {
	return &MemoryCache{max: max, entries: make(map[string]memoryEntry)}
}

// Get implements Cache.
func (m *MemoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || time.Now().After(e.expires) {
		delete(m.entries, key)
		return nil, false, nil
	}
	return e.value, true, nil
}

// Set implements Cache. When full it drops expired entries first, then
// arbitrary ones: a cache, not a store.
func (m *MemoryCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.entries[key]; !ok && len(m.entries) >= m.max {
		now := time.Now()
		for k, e := range m.entries {
			if now.After(e.expires) {
				delete(m.entries, k)
			}
		}
		for k := range m.entries {
			if len(m.entries) < m.max {
				break
			}
			delete(m.entries, k)
		}
	}
	m.entries[key] = memoryEntry{value: value, expires: time.Now().Add(ttl)}
	return nil
}

// Delete implements Cache.
func (m *MemoryCache) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
	return nil
}
