// Package store keeps idphooks' small expiring state, such as the table that
// swaps tokens idphooks rewrote back to the IdP's originals. Store is the
// interface the rest of idphooks uses. Bolt (one embedded file, the default)
// and Memory implement it here; store/redisstore implements it on Redis for
// cluster mode, where several instances share one table.
//
// A Store that can write several entries at once cheaper than one by one
// (in one round trip to Redis) also implements Batcher; SetMany uses it
// when it is there.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get for a key that was never set, was deleted
// or has expired.
var ErrNotFound = errors.New("store: not found")

// ErrUnavailable is wrapped by the errors of Set and Delete while a Store
// cannot write (its disk is full, its file unwritable or corrupt, more
// writes wait for a slow disk than it holds in memory, or Redis cannot
// serve), together with the cause; a Store on a server (Redis) wraps it in
// the errors of Get too while the server cannot answer. Such a write did
// not happen, or will not survive a restart; a caller that hands out
// something only valid with the write stored (a rewritten token) must not
// hand it out. Writes succeed again on their own once the cause is gone.
var ErrUnavailable = errors.New("store: unavailable")

// Store is a key-value store whose entries expire.
type Store interface {
	// Get returns the value under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set puts value under key for ttl; a ttl of zero or less never
	// expires. It fails with ErrUnavailable while the Store cannot write.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; deleting a missing key is not an error. It
	// fails with ErrUnavailable while the Store cannot write: the
	// deletion may then not survive a restart.
	Delete(ctx context.Context, key string) error
	// Close releases what the Store holds.
	Close() error
}

// Entry is one write of a batch: Value under Key for TTL, as Set takes
// them.
type Entry struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// Batcher is a Store that writes several entries in one go: a token
// response stores up to three swaps, one round trip rather than three on
// a Store on a server. A Store implements it only where that is cheaper;
// callers use SetMany, not Batcher itself.
type Batcher interface {
	// SetMany does a Set of each entry, a later entry of a key winning,
	// as one unit: a reader sees all of them or none, and an error means
	// none was stored, unless the connection was lost while the batch was
	// on its way (then the caller cannot know).
	SetMany(ctx context.Context, entries []Entry) error
}

// SetMany writes entries to s, in one batch when s is a Batcher, else
// with one Set each in order, stopping at the first error (the entries
// before it stay stored). Either way, an error says not to rely on any of
// them.
func SetMany(ctx context.Context, s Store, entries []Entry) error {
	if b, ok := s.(Batcher); ok {
		return b.SetMany(ctx, entries)
	}
	for _, e := range entries {
		if err := s.Set(ctx, e.Key, e.Value, e.TTL); err != nil {
			return err
		}
	}
	return nil
}

// DefaultSweepInterval is how often expired entries are deleted. Expired
// entries are invisible to Get at once; the sweep only reclaims their space.
const DefaultSweepInterval = time.Minute
