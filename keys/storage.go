package keys

import (
	"context"
	"io/fs"
	"sync"
)

// Storage is where the key set is kept. certmagic.Storage (Caddy's storage)
// satisfies it, so a cluster sharing Caddy storage shares keys. Load must
// return an error for which errors.Is(err, fs.ErrNotExist) holds when key is
// missing. Lock must block until the named lock is held or ctx is done, and
// exclude other processes sharing the storage, not just other goroutines.
type Storage interface {
	Store(ctx context.Context, key string, value []byte) error
	Load(ctx context.Context, key string) ([]byte, error)
	Lock(ctx context.Context, name string) error
	Unlock(ctx context.Context, name string) error
}

// MemoryStorage is a Storage held in memory, for tests and for single
// processes that accept new keys on every start.
type MemoryStorage struct {
	mu     sync.Mutex
	values map[string][]byte
	locks  map[string]chan struct{}
}

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{values: map[string][]byte{}, locks: map[string]chan struct{}{}}
}

// Store keeps a copy of value under key.
func (s *MemoryStorage) Store(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = append([]byte(nil), value...)
	return nil
}

// Load returns a copy of the value under key, or an fs.ErrNotExist error.
func (s *MemoryStorage) Load(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	if !ok {
		return nil, &fs.PathError{Op: "load", Path: key, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), v...), nil
}

// Lock blocks until the lock called name is free or ctx is done.
func (s *MemoryStorage) Lock(ctx context.Context, name string) error {
	for {
		s.mu.Lock()
		held, busy := s.locks[name]
		if !busy {
			s.locks[name] = make(chan struct{})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Unlock releases the lock called name and wakes its waiters.
func (s *MemoryStorage) Unlock(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if held, ok := s.locks[name]; ok {
		close(held)
		delete(s.locks, name)
	}
	return nil
}
