package boltqueue

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/idphooks/idphooks/delivery"
)

// Get returns the message with id.
func (q *Queue) Get(ctx context.Context, id string) (delivery.Entry, error) {
	var e delivery.Entry
	err := q.read(func(tx *bbolt.Tx) error {
		r, err := buckets(tx).get([]byte(id))
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: %q", delivery.ErrNotFound, id)
		}
		e = r.entry()
		return nil
	})
	return e, err
}

// List walks the receiver's range of the pending or dead index. The
// cursor is the hex of the last key's time and ID.
func (q *Queue) List(ctx context.Context, lq delivery.ListQuery) (delivery.Page, error) {
	var page delivery.Page
	if lq.Receiver == "" {
		return page, fmt.Errorf("%w: List needs a receiver", delivery.ErrInvalid)
	}
	index := bucketPending
	switch lq.State {
	case delivery.Pending:
	case delivery.Dead:
		index = bucketDead
	default:
		return page, fmt.Errorf("%w: List of state %q (want %q or %q)", delivery.ErrInvalid, lq.State, delivery.Pending, delivery.Dead)
	}
	limit := lq.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	p := prefix(lq.Receiver)
	start := p
	if lq.Cursor != "" {
		after, err := hex.DecodeString(lq.Cursor)
		if err != nil || len(after) < 8 {
			return page, fmt.Errorf("%w: bad cursor %q", delivery.ErrInvalid, lq.Cursor)
		}
		start = append(append([]byte(nil), p...), after...)
	}
	var last []byte
	err := q.read(func(tx *bbolt.Tx) error {
		b := buckets(tx)
		c := tx.Bucket(index).Cursor()
		k, _ := c.Seek(start)
		if lq.Cursor != "" && string(k) == string(start) {
			k, _ = c.Next()
		}
		for ; k != nil; k, _ = c.Next() {
			if _, ok := keyTime(p, k); !ok {
				break
			}
			if len(page.Entries) == limit {
				page.Next = hex.EncodeToString(last)
				break
			}
			r, err := b.get(k[len(p)+8:])
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("%w: the %s index names %q, which is not there", errBadRecord, index, k[len(p)+8:])
			}
			page.Entries = append(page.Entries, r.entry())
			last = append(last[:0], k[len(p):]...)
		}
		return nil
	})
	return page, err
}

// replayStep bounds the dead letters one commit moves: a replay of a
// whole backlog must not hold the writer, and the memory of one
// transaction, for all of it.
const replayStep = 500

// Replay moves the dead letters q selects back to pending.
func (q *Queue) Replay(ctx context.Context, rq delivery.ReplayQuery, now time.Time) (int, error) {
	if rq.ID != "" {
		moved := 0
		err := q.write(ctx, func(tx *bbolt.Tx) error {
			moved = 0
			b := buckets(tx)
			r, err := b.get([]byte(rq.ID))
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("%w: %q", delivery.ErrNotFound, rq.ID)
			}
			if r.state != stateDead {
				return nil
			}
			moved = 1
			return b.revive(r, now)
		})
		return moved, err
	}
	receivers, err := rq.Receivers(ctx, q.Counts)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, recv := range receivers {
		p := prefix(recv)
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			moved := 0
			err := q.write(ctx, func(tx *bbolt.Tx) error {
				moved = 0
				b := buckets(tx)
				var ids [][]byte
				c := b.dead.Cursor()
				for k, _ := c.Seek(seekKey(recv, rq.Since)); k != nil && len(ids) < replayStep; k, _ = c.Next() {
					if _, ok := keyTime(p, k); !ok {
						break
					}
					ids = append(ids, append([]byte(nil), k[len(p)+8:]...))
				}
				for _, id := range ids {
					r, err := b.get(id)
					if err != nil {
						return err
					}
					if r == nil || r.state != stateDead {
						return fmt.Errorf("%w: the dead index names %q, which is not dead", errBadRecord, id)
					}
					if err := b.revive(r, now); err != nil {
						return err
					}
				}
				moved = len(ids)
				return nil
			})
			total += moved
			if err != nil {
				return total, err
			}
			if moved < replayStep {
				break
			}
		}
	}
	return total, nil
}

// revive makes a dead letter pending again, due at now, with its
// attempts counted afresh.
func (b txBuckets) revive(r *record, now time.Time) error {
	if err := b.dead.Delete(indexKey(r.Receiver, r.deadAt, r.ID)); err != nil {
		return err
	}
	r.state, r.deadAt, r.Attempt = statePending, time.Time{}, 0
	r.NextAt, r.due, r.enqueued = now, now, now
	if err := b.putPending(r); err != nil {
		return err
	}
	return b.count(r.Receiver, +1, -1)
}
