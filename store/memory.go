package store

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store held in this process, for tests and for users who want
// nothing on disk (state is then lost on restart).
type Memory struct {
	mu      sync.RWMutex
	entries map[string]memoryEntry
	now     func() time.Time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type memoryEntry struct {
	value     []byte
	expiresAt int64
}

// NewMemory returns an empty Memory that sweeps expired entries every
// DefaultSweepInterval until Close.
func NewMemory() *Memory {
	return newMemory(time.Now, DefaultSweepInterval)
}

func newMemory(now func() time.Time, sweepInterval time.Duration) *Memory {
	m := &Memory{
		entries: map[string]memoryEntry{},
		now:     now,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go m.sweepEvery(sweepInterval)
	return m
}

func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	e, ok := m.entries[key]
	m.mu.RUnlock()
	if !ok || expired(e.expiresAt, m.now()) {
		return nil, ErrNotFound
	}
	// Callers may keep and change what they get, as with any other Store.
	return append([]byte(nil), e.value...), nil
}

func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e := memoryEntry{value: append([]byte(nil), value...), expiresAt: expiryFor(m.now(), ttl)}
	m.mu.Lock()
	m.entries[key] = e
	m.mu.Unlock()
	return nil
}

// SetMany stores entries under one lock: a Get sees all or none of them.
func (m *Memory) SetMany(ctx context.Context, entries []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	for _, e := range entries {
		m.entries[e.Key] = memoryEntry{value: append([]byte(nil), e.Value...), expiresAt: expiryFor(now, e.TTL)}
	}
	m.mu.Unlock()
	return nil
}

func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
	return nil
}

// Close stops the sweep and drops every entry. It is safe to call twice.
func (m *Memory) Close() error {
	m.once.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		m.entries = map[string]memoryEntry{}
		m.mu.Unlock()
	})
	return nil
}

// Sweep deletes every expired entry now and returns how many it deleted.
func (m *Memory) Sweep() int {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	removed := 0
	for k, e := range m.entries {
		if expired(e.expiresAt, now) {
			delete(m.entries, k)
			removed++
		}
	}
	return removed
}

func (m *Memory) sweepEvery(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

var (
	_ Store   = (*Memory)(nil)
	_ Batcher = (*Memory)(nil)
)
