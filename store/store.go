// Package store keeps idphooks' small expiring state, such as the table that
// swaps tokens idphooks rewrote back to the IdP's originals. Store is the
// interface the rest of idphooks uses; Bolt (one embedded file, the default)
// and Memory implement it, and a cluster backend such as Redis can later.
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
// cannot write (its disk is full, its file unwritable or corrupt, or more
// writes wait for a slow disk than it holds in memory), together with the
// cause. Such a write did not happen, or will not survive a restart; a
// caller that hands out something only valid with the write stored (a
// rewritten token) must not hand it out. Writes succeed again on their own
// once the cause is gone.
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

// DefaultSweepInterval is how often expired entries are deleted. Expired
// entries are invisible to Get at once; the sweep only reclaims their space.
const DefaultSweepInterval = time.Minute
