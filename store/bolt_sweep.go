package store

import (
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// sweepBatch bounds one write transaction, so a large sweep never holds
// bbolt's single writer lock long enough to stall token responses.
const sweepBatch = 1000

// maintain commits pending writes every WriteBehind, flushes the file to
// disk every SyncEvery, sweeps expired entries every SweepInterval, and
// retries with backoff while writes fail, until Close; the last commit and
// flush happen on the way out.
func (b *Bolt) maintain() {
	defer close(b.done)
	ticker := func(d time.Duration) (<-chan time.Time, func()) {
		if d <= 0 {
			return nil, func() {}
		}
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
	sweepC, stopSweep := ticker(b.sweepEvery)
	defer stopSweep()
	syncC, stopSync := ticker(b.syncEvery)
	defer stopSync()

	// One timer serves the commits and, during a failure episode, the
	// retries: there is never more than one write attempt in flight.
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var timerC <-chan time.Time
	schedule := func() {
		var d time.Duration
		switch {
		case b.failingNow():
			d = b.retryDelay(b.writeBehind)
		case b.writeBehind > 0:
			d = b.writeBehind
		default:
			timerC = nil
			return
		}
		timer.Reset(d)
		timerC = timer.C
	}
	schedule()
	for {
		select {
		case <-b.stop:
			b.closing()
			return
		case <-b.kick:
			// A write without WriteBehind failed: retries start.
			if timerC == nil {
				schedule()
			}
		case r := <-b.resetC:
			b.reset(r)
		case <-sweepC:
			b.sweepNow()
		case <-syncC:
			if !b.failingNow() {
				if err := b.flush(); err != nil {
					b.writeFailed("flushing the file to disk", err)
				}
			}
		case <-timerC:
			if b.failingNow() {
				b.retry()
			} else if err := b.commit(); err != nil {
				b.writeFailed("committing pending writes", err)
			}
			b.reportPending()
			schedule()
		}
	}
}

// wake tells maintain that an episode started outside it.
func (b *Bolt) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// retry is one attempt to end a failure episode: commit what waits (or,
// with nothing waiting, a probe write), then flush. Success ends it.
func (b *Bolt) retry() {
	if b.health.refusedForGood() {
		return
	}
	var err error
	op := "committing pending writes"
	if b.pending != nil && b.pending.hasWork() {
		err = b.commit()
	} else {
		op = "writing"
		err = b.probe()
	}
	if err == nil && b.syncEvery > 0 {
		op = "flushing the file to disk"
		err = b.flush()
	}
	if err != nil {
		b.writeFailed(op, err)
		return
	}
	b.writeOK()
}

// probe writes a few bytes to learn whether the file takes writes again.
func (b *Bolt) probe() error {
	return b.update(func(tx *bbolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists([]byte(metaBucket))
		if err != nil {
			return err
		}
		return m.Put([]byte("probe"), []byte(b.now().UTC().Format(time.RFC3339Nano)))
	})
}

// closing commits and flushes for the last time.
func (b *Bolt) closing() {
	err := b.commit()
	if err == nil && b.syncEvery > 0 {
		err = b.flush()
	}
	b.reportPending()
	if err != nil {
		n, _ := b.pending.countsOrZero()
		b.log.Error("state store closed with writes it could not commit; they are lost (their tokens no longer swap back)",
			zap.String("path", b.path), zap.Int("lost_writes", n), zap.Error(err))
		b.metrics.writeError()
	}
	if b.pending != nil {
		b.metrics.addPending(-float64(b.pending.reported))
		b.pending.reported = 0
	}
}

func (p *pendingWrites) countsOrZero() (int, int) {
	if p == nil {
		return 0, 0
	}
	return p.counts()
}

func (b *Bolt) flush() error {
	return b.sync()
}

// sweepNow runs a sweep; its failures are counted and logged but do not
// refuse writes: a sweep only reclaims space.
func (b *Bolt) sweepNow() {
	if _, err := b.Sweep(); err != nil {
		b.metrics.writeError()
		b.log.Warn("sweeping expired entries failed", zap.String("path", b.path), zap.Error(err))
	}
}

// Sweep deletes every expired entry of every bucket now, and evicts what
// a lowered cap requires, and returns how many expired entries it
// deleted. The background sweep calls it; callers rarely need to.
func (b *Bolt) Sweep() (int, error) {
	var names []string
	err := b.view(func(tx *bbolt.Tx) error {
		names = tableNamesIn(tx)
		return nil
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, name := range names {
		n := newTableNames(name)
		for {
			more, swept := false, 0
			var done *table
			err := b.update(func(tx *bbolt.Tx) error {
				t, err := openTable(tx, n, false)
				if err != nil || t == nil {
					return err
				}
				now := b.now()
				var again bool
				swept, again, err = t.sweep(now, sweepBatch)
				if err != nil {
					return err
				}
				if max := b.maxEntries.Load(); max > 0 {
					evicted, err := t.evict(uint64(max), evictBatch, now)
					if err != nil {
						return err
					}
					again = again || evicted == evictBatch
				}
				more = again
				done = t
				return t.save()
			})
			if err != nil {
				return removed, err
			}
			removed += swept
			if done != nil {
				b.published(done)
			}
			if !more {
				break
			}
			select {
			case <-b.stop:
				return removed, nil
			default:
			}
		}
	}
	return removed, nil
}
