package store

import (
	"fmt"
	"runtime/debug"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// The file in use can be replaced while the store runs (see reset), so it
// is read and written through these, under dbMu.

// view runs fn in a read transaction of the file in use.
func (b *Bolt) view(fn func(*bbolt.Tx) error) error {
	b.dbMu.RLock()
	defer b.dbMu.RUnlock()
	db := b.db
	return b.guard(db, func() error { return db.View(fn) })
}

// update runs fn in a write transaction of the file in use.
func (b *Bolt) update(fn func(*bbolt.Tx) error) error {
	b.dbMu.RLock()
	defer b.dbMu.RUnlock()
	db := b.db
	return b.guard(db, func() error { return db.Update(fn) })
}

// sync flushes the file in use to disk.
func (b *Bolt) sync() error {
	b.dbMu.RLock()
	defer b.dbMu.RUnlock()
	db := b.db
	return b.guard(db, db.Sync)
}

// guard runs f, which reads or writes db, with memory faults turned into
// panics, and recovers those and bbolt's own panics: a page that is not
// what bbolt wrote (a disk error, another program writing the file) must
// fail the one call, not crash Caddy. The file is then replaced.
func (b *Bolt) guard(db *bbolt.DB, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errCorrupt, r)
			select {
			case b.resetC <- resetRequest{db, err}:
			default: // one is already asked for
			}
		}
	}()
	return f()
}

type resetRequest struct {
	db  *bbolt.DB
	err error
}

// reset replaces a file found corrupt while running (by a read, a write
// or the background check) with an empty one, as the open does with a
// file found corrupt then: moved aside, with an error log line. Writes
// waiting to be committed go into the new file. The maintain goroutine
// resets, so a write is never under way meanwhile; reads wait for it.
func (b *Bolt) reset(r resetRequest) {
	if b.health.refusedForGood() {
		return // a reset failed already; the log said so
	}
	b.dbMu.Lock()
	if r.db != b.db {
		b.dbMu.Unlock()
		return // this file was replaced already
	}
	old := b.db
	aside, err := moveAside(b.path, b.now())
	var db *bbolt.DB
	if err == nil {
		var bad *corruption
		db, bad, _, err = openVerified(b.path, b.opts)
		if bad != nil {
			bad.release()
		}
	}
	if err != nil {
		b.dbMu.Unlock()
		b.refuseForGood(fmt.Errorf("%w; replacing the file failed: %w", r.err, err))
		b.log.Error("state file found corrupt while running, and it could not be replaced; writes refused (token responses answer 503) until Caddy restarts",
			zap.String("path", b.path), zap.NamedError("corruption", r.err), zap.Error(err))
		return
	}
	b.configure(db)
	b.db = db
	b.dbMu.Unlock()
	// bbolt may have panicked holding a lock of old; a Close that never
	// returns then costs a goroutine, not the store.
	go closeQuietly(old)
	b.tables.release(b.metrics)
	b.log.Error("state file found corrupt while running; moved it aside and continued with an empty one (tokens issued before no longer swap back: those clients log in again)",
		zap.String("path", b.path), zap.String("moved_to", aside), zap.Error(r.err))
	b.metrics.corruptFile()
	if b.failingNow() {
		b.retry()
	}
}

// configure applies the store's settings to a file it opened.
func (b *Bolt) configure(db *bbolt.DB) {
	if b.syncEvery > 0 {
		db.NoSync = true
	}
	// bbolt grows a file past 16 MiB in steps of 16 MiB; in 1 MiB steps
	// the file stays close to what it holds.
	db.AllocSize = 1 << 20
}

// checkChunk bounds a read transaction of the background check.
const checkChunk = 10_000

// checkInBackground reads what the open's check had no time for (see
// checkBudget), a chunk of keys per read transaction, until done, Close,
// or a damaged page, which resets the file.
func (b *Bolt) checkInBackground(db *bbolt.DB) {
	defer b.checking.Done()
	viewOf := func(fn func(*bbolt.Tx) error) error {
		b.dbMu.RLock()
		defer b.dbMu.RUnlock()
		if b.db != db {
			return errReplaced
		}
		return b.guard(db, func() error { return db.View(fn) })
	}
	var names [][]byte
	err := viewOf(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, append([]byte(nil), name...))
			return nil
		})
	})
	var w walker
	defer w.done()
	for _, name := range names {
		var from []byte
		for done := false; err == nil && !done; {
			select {
			case <-b.stop:
				return
			default:
			}
			err = viewOf(func(tx *bbolt.Tx) error {
				bk := tx.Bucket(name)
				if bk == nil {
					done = true
					return nil
				}
				c := bk.Cursor()
				k, v := c.First()
				if from != nil {
					k, v = c.Seek(from)
				}
				for n := 0; k != nil; k, v = c.Next() {
					if n == checkChunk {
						from = append(from[:0], k...)
						return nil
					}
					if err := w.entry(bk, k, v, 0); err != nil {
						return err
					}
					n++
				}
				done = true
				return nil
			})
		}
	}
	if err != nil {
		// A damaged page asked for a reset already; a file replaced or
		// closed needs nothing more.
		return
	}
	b.log.Debug("state file checked", zap.String("path", b.path))
}
