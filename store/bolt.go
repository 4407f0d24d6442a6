package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// DefaultMaxEntries caps each bucket of a Bolt file. A rewritten token
// answer stores two swap entries: the access token's, kept for its life
// (minutes), and the ID token's, kept for its life plus a day (for logout
// hints). A million entries hold 25 hours of about 11 such answers a
// second, in 1–1.8 GB of file (upstream tokens of 700–1,300 bytes: about
// 1,050–1,760 bytes an answer kept, see BenchmarkFileSize). Only abuse
// (a client refreshing in a loop) or a much larger site reaches it, and
// what goes first then is the oldest: ID token entries a day old, whose
// loss costs a logout hint, not a session.
const DefaultMaxEntries = 1_000_000

// DefaultMaxPendingBytes bounds the writes WriteBehind holds in memory
// until they are committed: at 2,000 token answers a second, about three
// seconds of them.
const DefaultMaxPendingBytes = 16 << 20

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
	// SyncEvery: a write is in the OS page cache when it is committed (a
	// Caddy crash loses nothing of it), and on disk within SyncEvery (a
	// machine crash loses at most that much). bbolt's default, an fsync
	// per write, costs 0.5–1 ms on every token response that stores a
	// swap. Default 0: an fsync per write.
	SyncEvery time.Duration

	// WriteBehind, when positive, makes Set and Delete return at once and
	// commits them in one transaction every WriteBehind (and on Close);
	// Get sees them at once. A bbolt transaction per token response costs
	// tens of microseconds; a crash loses at most WriteBehind of writes.
	// Default 0: each write commits before it returns.
	WriteBehind time.Duration

	// MaxPendingBytes bounds what WriteBehind holds before it is
	// committed; beyond it, Set returns ErrUnavailable until the disk
	// catches up. Default DefaultMaxPendingBytes.
	MaxPendingBytes int

	// MaxEntries caps the entries of each bucket; a write beyond it
	// evicts the oldest entry. Default DefaultMaxEntries; negative: no
	// cap. SetMaxEntries changes it later.
	MaxEntries int

	// FileMode is the mode of a newly created file. Default 0600: entries
	// are secrets even when sealed.
	FileMode os.FileMode

	// Logger receives failures (a write episode's start and end, a
	// corrupt file moved aside, eviction starting). Default: none.
	Logger *zap.Logger

	// Metrics receives the store's figures. Default: none.
	Metrics *Metrics

	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// Bolt is a Store file holding several named buckets, each a Store of its
// own. Writes that cannot be committed (a full disk, an I/O error) make
// Set and Delete return ErrUnavailable until a retry succeeds.
type Bolt struct {
	pending *pendingWrites // nil without WriteBehind
	// dbMu guards db, which reset replaces: reads and writes hold it
	// shared, reset exclusively.
	dbMu        sync.RWMutex
	db          *bbolt.DB
	path        string
	opts        BoltOptions // as opened, for reset
	now         func() time.Time
	log         *zap.Logger
	metrics     *Metrics
	writeBehind time.Duration
	syncEvery   time.Duration
	sweepEvery  time.Duration
	maxEntries  atomic.Int64 // 0: no cap
	health      health
	tables      tableStats
	kick        chan struct{}
	resetC      chan resetRequest
	checking    sync.WaitGroup // the background check
	stop        chan struct{}
	done        chan struct{}
	once        sync.Once
}

// OpenBolt opens or creates the bbolt file at path, moving a corrupt one
// aside (see open.go), and starts its background work. A file found
// corrupt later is moved aside too (see reset.go).
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
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	b := &Bolt{
		opts: opts, now: opts.Now, log: opts.Logger, metrics: opts.Metrics,
		writeBehind: opts.WriteBehind, syncEvery: opts.SyncEvery, sweepEvery: opts.SweepInterval,
		kick: make(chan struct{}, 1), resetC: make(chan resetRequest, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	b.SetMaxEntries(opts.MaxEntries)
	checked, err := b.open(path)
	if err != nil {
		return nil, err
	}
	if opts.WriteBehind > 0 {
		b.pending = newPendingWrites(opts.MaxPendingBytes)
	}
	if !checked {
		b.log.Info("state file is large; checking the rest of it in the background", zap.String("path", b.path))
		b.checking.Add(1)
		go b.checkInBackground(b.db)
	}
	go b.maintain()
	return b, nil
}

// open opens and checks the file, upgrades its layout and reads its
// counts. Damage the check had no time for can surface in the upgrade,
// which reads every entry of a file of the old layout: the file is then
// moved aside as if the check had found it.
func (b *Bolt) open(path string) (checked bool, err error) {
	for again := true; ; again = false {
		db, checked, err := openChecked(path, b.opts)
		if err != nil {
			return false, err
		}
		b.db, b.path = db, db.Path()
		b.tables.m = map[string]*tableStat{}
		b.configure(db)
		err = b.migrate()
		if err == nil {
			if err = b.loadCounts(); err != nil {
				err = fmt.Errorf("store: reading %s: %w", path, err)
			}
		} else {
			err = fmt.Errorf("store: upgrading the layout of %s: %w", path, err)
		}
		if err == nil {
			return checked, nil
		}
		if !errors.Is(err, errCorrupt) || !again {
			closeQuietly(db)
			return false, err
		}
		aside, merr := moveAside(path, b.now())
		closeQuietly(db)
		if merr != nil {
			return false, fmt.Errorf("%w; moving it aside failed: %w", err, merr)
		}
		b.log.Error("state file is corrupt; moved it aside and started an empty one (tokens issued before no longer swap back: those clients log in again)",
			zap.String("path", path), zap.String("moved_to", aside), zap.Error(err))
		b.metrics.corruptFile()
		// A reset asked for by the guard concerns the file just moved.
		select {
		case <-b.resetC:
		default:
		}
	}
}

// SetMaxEntries changes the cap on each bucket's entries (0: the default,
// negative: none); a config reload calls it on the store it keeps. A
// lower cap is reached over the next commits and sweeps.
func (b *Bolt) SetMaxEntries(n int) {
	switch {
	case n == 0:
		n = DefaultMaxEntries
	case n < 0:
		n = 0
	}
	b.maxEntries.Store(int64(n))
}

// Bucket returns the Store kept in the bucket called name, created on first
// Set. Its Close does nothing: the file is closed by (*Bolt).Close.
func (b *Bolt) Bucket(name string) Store {
	return &boltBucket{bolt: b, name: name, names: newTableNames(name), err: validTableName(name)}
}

// Close commits what is pending, stops the background work and closes the
// file. It is safe to call twice.
func (b *Bolt) Close() error {
	var err error
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.checking.Wait()
		b.dbMu.Lock()
		err = b.db.Close()
		b.dbMu.Unlock()
		b.tables.release(b.metrics)
		b.closeHealth()
	})
	return err
}

// Path is the file the store lives in.
func (b *Bolt) Path() string { return b.path }

type boltBucket struct {
	bolt  *Bolt
	name  string
	names tableNames
	err   error // an invalid name
}

func (s *boltBucket) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	if rec, ok := s.bolt.pending.get(s.name, key); ok {
		return s.decodeLive(rec)
	}
	var out []byte
	err := s.bolt.view(func(tx *bbolt.Tx) error {
		v, err := getRecord(tx, s.names, []byte(key), s.bolt.now())
		// bbolt's memory is only valid inside the transaction.
		out = append([]byte(nil), v...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeLive returns a copy of a pending entry's value, or ErrNotFound
// for a deletion or an expired entry.
func (s *boltBucket) decodeLive(rec []byte) ([]byte, error) {
	if rec == nil {
		return nil, ErrNotFound
	}
	exp, _, value, err := decodeRecord(rec)
	if err != nil {
		return nil, err
	}
	if expired(exp, s.bolt.now()) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), value...), nil
}

// Set returns an error wrapping ErrUnavailable while the file cannot be
// written, so that the caller does not hand out what it could not keep.
func (s *boltBucket) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	b := s.bolt
	if err := b.unavailable(); err != nil {
		return err
	}
	rec := encodeRecord(key, value, expiryFor(b.now(), ttl))
	if b.pending != nil {
		return b.pend(s.name, key, rec)
	}
	return b.write("writing", batch{s.name: {key: {rec: rec}}})
}

// Delete returns an error wrapping ErrUnavailable while the file cannot be
// written: the entry may come back after a restart. With WriteBehind, this
// process stops returning it all the same.
func (s *boltBucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.err != nil {
		return s.err
	}
	b := s.bolt
	if b.pending != nil {
		err := b.pend(s.name, key, nil)
		if refusal := b.unavailable(); refusal != nil {
			return refusal
		}
		return err
	}
	if err := b.unavailable(); err != nil {
		return err
	}
	return b.write("deleting", batch{s.name: {key: {}}})
}

func (s *boltBucket) Close() error { return nil }

// pend queues a write for the next commit, unless too much already waits.
func (b *Bolt) pend(bucket, key string, rec []byte) error {
	if err := b.pending.put(bucket, key, rec); err != nil {
		b.metrics.rejectedWrite()
		return err
	}
	return nil
}

// write commits a batch now (a Set or Delete without WriteBehind); a
// failure starts an episode, as a failed background commit does.
func (b *Bolt) write(op string, one batch) error {
	if err := b.apply(one); err != nil {
		b.writeFailed(op, err)
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return nil
}

// apply writes a batch in one transaction, in the order of its writes,
// evicting what the cap requires, and publishes the tables' new sizes once
// it is committed.
func (b *Bolt) apply(writes batch) error {
	var done []*table
	err := b.update(func(tx *bbolt.Tx) error {
		done = done[:0]
		now := b.now()
		max := b.maxEntries.Load()
		for name, entries := range writes {
			t, err := openTable(tx, newTableNames(name), true)
			if err != nil {
				return err
			}
			for _, w := range inOrder(entries) {
				if w.rec == nil {
					err = t.del([]byte(w.key))
				} else {
					err = t.put([]byte(w.key), w.rec)
				}
				if err != nil {
					return err
				}
			}
			if max > 0 {
				if _, err := t.evict(uint64(max), evictBatch+len(entries), now); err != nil {
					return err
				}
			}
			if err := t.save(); err != nil {
				return err
			}
			done = append(done, t)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range done {
		b.published(t)
	}
	return nil
}

// evictBatch bounds the evictions of one transaction beyond the entries it
// adds, so that lowering the cap does not hold the writer lock for long.
const evictBatch = 10_000
