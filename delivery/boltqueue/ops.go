package boltqueue

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/idphooks/idphooks/delivery"
)

// Enqueue stores msgs in the next commit and returns once it is on disk.
func (q *Queue) Enqueue(ctx context.Context, msgs ...delivery.Message) error {
	for i := range msgs {
		if err := msgs[i].Validate(); err != nil {
			return err
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return q.write(ctx, func(tx *bbolt.Tx) error {
		now := q.now()
		b := buckets(tx)
		deltas := map[string]*[2]int64{}
		for _, m := range msgs {
			if b.msgs.Get([]byte(m.ID)) != nil {
				continue
			}
			r := &record{Message: m, state: statePending, due: m.NextAt, enqueued: now}
			if r.due.IsZero() {
				r.due = now
			}
			r.Payload = append([]byte(nil), m.Payload...)
			if err := b.putPending(r); err != nil {
				return err
			}
			d := deltas[m.Receiver]
			if d == nil {
				d = new([2]int64)
				deltas[m.Receiver] = d
			}
			d[0]++
		}
		for recv, d := range deltas {
			if err := b.count(recv, d[0], d[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Lease leases receiver's due messages. Leases are kept in memory, not
// in the file: bbolt locks its file to one process, so no other process
// leases from it, and a lease costs a read instead of a commit (an fsync
// per lease would halve the throughput of a receiver). A crash forgets the
// leases with the process, and the messages are due at once when the file
// is opened again, which is sooner than a lease's end.
func (q *Queue) Lease(ctx context.Context, receiver string, now time.Time, max int, lease time.Duration) ([]delivery.Message, time.Time, error) {
	p := prefix(receiver)
	var out []delivery.Message
	var next, leasedEnd time.Time
	q.leaseMu.Lock()
	defer q.leaseMu.Unlock()
	err := q.read(func(tx *bbolt.Tx) error {
		b := buckets(tx)
		c := b.due.Cursor()
		for k, _ := c.Seek(p); k != nil; k, _ = c.Next() {
			t, ok := keyTime(p, k)
			if !ok {
				break
			}
			id := k[len(p)+8:]
			if end, ok := q.leases[string(id)]; ok && end.After(now) {
				if leasedEnd.IsZero() || end.Before(leasedEnd) {
					leasedEnd = end
				}
				continue
			}
			if t.After(now) || len(out) == max {
				next = t
				break
			}
			r, err := b.get(id)
			if err != nil {
				return err
			}
			if r == nil || r.state != statePending {
				return fmt.Errorf("%w: the due index names %q, which is not pending", errBadRecord, id)
			}
			out = append(out, r.Message)
		}
		return nil
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	for _, m := range out {
		q.leases[m.ID] = now.Add(lease)
	}
	if next.IsZero() || (!leasedEnd.IsZero() && leasedEnd.Before(next)) {
		next = leasedEnd
	}
	return out, next, nil
}

// release ends m's lease once its outcome is committed. A write that
// failed keeps the lease: the message comes back at its end, not at once
// (which, on a full disk, would be a loop of duplicates).
func (q *Queue) release(m delivery.Message, err error) error {
	if err == nil {
		q.leaseMu.Lock()
		delete(q.leases, m.ID)
		q.leaseMu.Unlock()
	}
	return err
}

// Done removes m.
func (q *Queue) Done(ctx context.Context, m delivery.Message) error {
	return q.release(m, q.write(ctx, func(tx *bbolt.Tx) error {
		b := buckets(tx)
		r, err := b.get([]byte(m.ID))
		if err != nil || r == nil || r.state != statePending {
			return err
		}
		if err := b.deletePending(r); err != nil {
			return err
		}
		if err := b.msgs.Delete([]byte(r.ID)); err != nil {
			return err
		}
		return b.count(r.Receiver, -1, 0)
	}))
}

// Retry puts m back, due at m.NextAt.
func (q *Queue) Retry(ctx context.Context, m delivery.Message) error {
	return q.release(m, q.write(ctx, func(tx *bbolt.Tx) error {
		b := buckets(tx)
		r, err := b.get([]byte(m.ID))
		if err != nil || r == nil || r.state != statePending {
			return err
		}
		r.Attempt, r.LastError, r.LastStatus, r.NextAt = m.Attempt, m.LastError, m.LastStatus, m.NextAt
		return b.moveDue(r, m.NextAt)
	}))
}

// Dead moves m to the dead letters.
func (q *Queue) Dead(ctx context.Context, m delivery.Message) error {
	return q.release(m, q.write(ctx, func(tx *bbolt.Tx) error {
		b := buckets(tx)
		r, err := b.get([]byte(m.ID))
		if err != nil || r == nil || r.state != statePending {
			return err
		}
		if err := b.deletePending(r); err != nil {
			return err
		}
		r.Attempt, r.LastError, r.LastStatus = m.Attempt, m.LastError, m.LastStatus
		r.state, r.deadAt, r.due = stateDead, q.now(), time.Time{}
		if err := b.dead.Put(indexKey(r.Receiver, r.deadAt, r.ID), nil); err != nil {
			return err
		}
		if err := b.put(r); err != nil {
			return err
		}
		return b.count(r.Receiver, -1, +1)
	}))
}

// Counts reads the counts bucket and each receiver's oldest pending.
func (q *Queue) Counts(ctx context.Context) (map[string]delivery.Counts, error) {
	out := map[string]delivery.Counts{}
	err := q.read(func(tx *bbolt.Tx) error {
		pc := tx.Bucket(bucketPending).Cursor()
		return tx.Bucket(bucketCounts).ForEach(func(k, v []byte) error {
			if len(v) != 16 {
				return fmt.Errorf("%w: the count of %q", errBadRecord, k)
			}
			c := delivery.Counts{Pending: int(binary.BigEndian.Uint64(v)), Dead: int(binary.BigEndian.Uint64(v[8:]))}
			p := prefix(string(k))
			if pk, _ := pc.Seek(p); pk != nil {
				c.OldestPending, _ = keyTime(p, pk)
			}
			out[string(k)] = c
			return nil
		})
	})
	return out, err
}

// txBuckets are the buckets of one transaction, with the index upkeep
// every write shares.
type txBuckets struct {
	msgs, due, pending, dead, counts *bbolt.Bucket
}

func buckets(tx *bbolt.Tx) txBuckets {
	b := txBuckets{
		msgs: tx.Bucket(bucketMsgs), due: tx.Bucket(bucketDue), pending: tx.Bucket(bucketPending),
		dead: tx.Bucket(bucketDead), counts: tx.Bucket(bucketCounts),
	}
	// Keys mostly come in ascending order (IDs and times that grow), so
	// pages split full rather than half full, bbolt's default: the file
	// of a backlog is about 40 % smaller, and so is what of it is mapped.
	for _, bk := range []*bbolt.Bucket{b.msgs, b.due, b.pending, b.dead} {
		bk.FillPercent = 0.9
	}
	return b
}

// get returns the record of id, nil when there is none.
func (b txBuckets) get(id []byte) (*record, error) {
	v := b.msgs.Get(id)
	if v == nil {
		return nil, nil
	}
	r, err := decode(v)
	if err != nil {
		return nil, fmt.Errorf("message %q: %w", id, err)
	}
	return r, nil
}

func (b txBuckets) put(r *record) error { return b.msgs.Put([]byte(r.ID), r.encode()) }

// putPending stores a new pending record and its index keys.
func (b txBuckets) putPending(r *record) error {
	if err := b.due.Put(indexKey(r.Receiver, r.due, r.ID), nil); err != nil {
		return err
	}
	if err := b.pending.Put(indexKey(r.Receiver, r.enqueued, r.ID), nil); err != nil {
		return err
	}
	return b.put(r)
}

// deletePending removes a pending record's index keys.
func (b txBuckets) deletePending(r *record) error {
	if err := b.due.Delete(indexKey(r.Receiver, r.due, r.ID)); err != nil {
		return err
	}
	return b.pending.Delete(indexKey(r.Receiver, r.enqueued, r.ID))
}

// moveDue makes a pending record due at t.
func (b txBuckets) moveDue(r *record, t time.Time) error {
	if err := b.due.Delete(indexKey(r.Receiver, r.due, r.ID)); err != nil {
		return err
	}
	r.due = t
	if err := b.due.Put(indexKey(r.Receiver, r.due, r.ID), nil); err != nil {
		return err
	}
	return b.put(r)
}

// count adds to receiver's pending and dead counts, and drops a receiver
// left with none.
func (b txBuckets) count(receiver string, pending, dead int64) error {
	var v [16]byte
	copy(v[:], b.counts.Get([]byte(receiver)))
	p := int64(binary.BigEndian.Uint64(v[:])) + pending
	d := int64(binary.BigEndian.Uint64(v[8:])) + dead
	if p <= 0 && d <= 0 {
		return b.counts.Delete([]byte(receiver))
	}
	binary.BigEndian.PutUint64(v[:], uint64(max(p, 0)))
	binary.BigEndian.PutUint64(v[8:], uint64(max(d, 0)))
	return b.counts.Put([]byte(receiver), v[:])
}
