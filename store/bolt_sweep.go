package store

import (
	"bytes"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// sweepBatch bounds one write transaction, so a large sweep never holds
// bbolt's single writer lock long enough to stall token responses.
const sweepBatch = 1000

// maintain sweeps expired entries every sweep and, with NoSync, flushes the
// file to disk every sync, until Close; a non-positive interval turns its
// task off. The last flush happens on the way out.
func (b *Bolt) maintain(sweep, sync, writeBehind time.Duration) {
	defer close(b.done)
	ticker := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		t := time.NewTicker(d)
		go func() { <-b.stop; t.Stop() }()
		return t.C
	}
	sweepC, syncC, commitC := ticker(sweep), ticker(sync), ticker(writeBehind)
	for {
		select {
		case <-b.stop:
			// Pending writes go into the file, then the file to disk.
			b.commit()
			if sync > 0 {
				b.flush()
			}
			return
		case <-sweepC:
			if _, err := b.Sweep(); err != nil {
				b.log.Warn("sweeping expired entries failed", zap.String("path", b.db.Path()), zap.Error(err))
			}
		case <-syncC:
			b.flush()
		case <-commitC:
			b.commit()
		}
	}
}

func (b *Bolt) flush() {
	if err := b.db.Sync(); err != nil {
		b.log.Error("flushing the state file to disk failed", zap.String("path", b.db.Path()), zap.Error(err))
	}
}

// Sweep deletes every expired entry of every bucket now and returns how many
// it deleted. The background sweep calls it; callers rarely need to.
func (b *Bolt) Sweep() (int, error) {
	var buckets [][]byte
	err := b.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			buckets = append(buckets, bytes.Clone(name))
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, name := range buckets {
		var from []byte
		for {
			n, next, err := b.sweepBucket(name, from)
			removed += n
			if err != nil {
				return removed, err
			}
			if next == nil {
				break
			}
			select {
			case <-b.stop:
				return removed, nil
			default:
			}
			from = next
		}
	}
	return removed, nil
}

// sweepBucket deletes up to sweepBatch expired entries of one bucket, from
// key from on, and returns where to go on (nil at the end). It looks in a
// read transaction, which does not block writers, and deletes in a short
// write transaction, checking again since an entry may have been set anew.
func (b *Bolt) sweepBucket(name, from []byte) (removed int, next []byte, err error) {
	now := b.now()
	var doomed [][]byte
	err = b.db.View(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(name)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		k, v := c.First()
		if from != nil {
			k, v = c.Seek(from)
		}
		for ; k != nil; k, v = c.Next() {
			if len(doomed) == sweepBatch {
				next = bytes.Clone(k)
				return nil
			}
			if sweepable(v, now) {
				doomed = append(doomed, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil || len(doomed) == 0 {
		return 0, next, err
	}
	err = b.db.Update(func(tx *bbolt.Tx) error {
		bk := tx.Bucket(name)
		if bk == nil {
			return nil
		}
		for _, k := range doomed {
			if v := bk.Get(k); v != nil && sweepable(v, now) {
				if err := bk.Delete(k); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	})
	return removed, next, err
}

// sweepable reports whether an entry is expired, or malformed and so never
// readable anyway.
func sweepable(raw []byte, now time.Time) bool {
	exp, _, err := decodeEntry(raw)
	return err != nil || expired(exp, now)
}
