package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// BoltOptions tunes OpenBolt.
type BoltOptions struct {
	// Timeout bounds the wait for the file lock. bbolt locks its file
	// exclusively, so a second process (or a second open in this one) waits
	// for the first to close it; after Timeout it fails instead of hanging.
	// Default 2 seconds.
	Timeout time.Duration

	// SweepInterval is how often expired entries are deleted from disk.
	// Default DefaultSweepInterval; negative disables the sweep.
	SweepInterval time.Duration

	// SyncEvery, when positive, trades per-write fsync for an fsync every
	// SyncEvery: a write is in the OS page cache when Set returns (a Caddy
	// crash loses nothing), and on disk within SyncEvery (a machine crash
	// loses at most that much). bbolt's default, an fsync per write, costs
	// 0.5–1 ms on every token response that stores a swap. Default 0: an
	// fsync per write.
	SyncEvery time.Duration

	// WriteBehind, when positive, makes Set and Delete return at once and
	// commits them in one transaction every WriteBehind (and on Close);
	// Get sees them at once. A bbolt transaction per token response costs
	// tens of microseconds; a crash loses at most WriteBehind of writes.
	// Default 0: each write commits before it returns.
	WriteBehind time.Duration

	// FileMode is the mode of a newly created file. Default 0600: entries
	// are secrets even when sealed.
	FileMode os.FileMode

	// Logger receives sweep failures. Default: none.
	Logger *zap.Logger

	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// Bolt is a Store file holding several named buckets, each a Store of its own.
type Bolt struct {
	pending *pendingWrites // nil without WriteBehind
	db      *bbolt.DB
	now     func() time.Time
	log     *zap.Logger
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// OpenBolt opens or creates the bbolt file at path and starts its sweep.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o600
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bbolt.Open(path, opts.FileMode, &bbolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("store: %s is already open elsewhere (another Caddy process on the same file, or a second open in this one); gave up waiting for its lock after %s: %w", path, opts.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	b := &Bolt{db: db, now: opts.Now, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	if opts.SyncEvery > 0 {
		db.NoSync = true
	}
	if opts.WriteBehind > 0 {
		b.pending = &pendingWrites{m: map[string]map[string][]byte{}}
	}
	go b.maintain(opts.SweepInterval, opts.SyncEvery, opts.WriteBehind)
	return b, nil
}

// Bucket returns the Store kept in the bucket called name, created on first
// Set. Its Close does nothing: the file is closed by (*Bolt).Close.
func (b *Bolt) Bucket(name string) Store {
	return &boltBucket{bolt: b, name: []byte(name)}
}

// Close stops the sweep and closes the file. It is safe to call twice.
func (b *Bolt) Close() error {
	var err error
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		err = b.db.Close()
	})
	return err
}

// Path is the file the store lives in.
func (b *Bolt) Path() string { return b.db.Path() }

type boltBucket struct {
	bolt *Bolt
	name []byte
}

func (s *boltBucket) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if entry, ok := s.bolt.pending.get(s.name, key); ok {
		return s.decodeLive(entry)
	}
	var out []byte
	err := s.bolt.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(s.name)
		if bk == nil {
			return ErrNotFound
		}
		raw := bk.Get([]byte(key))
		if raw == nil {
			return ErrNotFound
		}
		exp, value, err := decodeEntry(raw)
		if err != nil {
			return err
		}
		// Expired entries vanish here at once; deleting them would need a
		// write transaction on every read, so the sweep does that.
		if expired(exp, s.bolt.now()) {
			return ErrNotFound
		}
		// bbolt's memory is only valid inside the transaction.
		out = append([]byte(nil), value...)
		return nil
	})
	return out, err
}

// decodeLive returns a copy of a pending entry's value, or ErrNotFound
// for a deletion or an expired entry.
func (s *boltBucket) decodeLive(entry []byte) ([]byte, error) {
	if entry == nil {
		return nil, ErrNotFound
	}
	exp, value, err := decodeEntry(entry)
	if err != nil {
		return nil, err
	}
	if expired(exp, s.bolt.now()) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), value...), nil
}

func (s *boltBucket) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(s.name) == 0 {
		return errors.New("store: bucket has no name")
	}
	entry := encodeEntry(value, expiryFor(s.bolt.now(), ttl))
	if s.bolt.pending != nil {
		s.bolt.pending.put(s.name, key, entry)
		return nil
	}
	return s.bolt.db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(s.name)
		if err != nil {
			return err
		}
		return bk.Put([]byte(key), entry)
	})
}

func (s *boltBucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.bolt.pending != nil {
		s.bolt.pending.put(s.name, key, nil)
		return nil
	}
	return s.bolt.db.Update(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(s.name)
		if bk == nil {
			return nil
		}
		return bk.Delete([]byte(key))
	})
}

func (s *boltBucket) Close() error { return nil }
