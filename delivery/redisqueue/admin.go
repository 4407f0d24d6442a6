package redisqueue

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// Get returns the message with id.
func (q *Queue) Get(ctx context.Context, id string) (delivery.Entry, error) {
	if err := q.check(); err != nil {
		return delivery.Entry{}, err
	}
	var f map[string]string
	err := q.conn.Bounded(ctx, func(ctx context.Context) (err error) {
		f, err = q.c.HGetAll(ctx, q.base+"m:"+id).Result()
		return err
	})
	if err := q.fail("get", err); err != nil {
		return delivery.Entry{}, err
	}
	if len(f) == 0 {
		return delivery.Entry{}, fmt.Errorf("%w: %q", delivery.ErrNotFound, id)
	}
	return decode(id, "", f)
}

// List pages through a receiver's pending or dead index. The cursor is
// the last entry's score and the hex of its ID.
func (q *Queue) List(ctx context.Context, lq delivery.ListQuery) (delivery.Page, error) {
	var page delivery.Page
	if lq.Receiver == "" {
		return page, fmt.Errorf("%w: List needs a receiver", delivery.ErrInvalid)
	}
	index := "pend:"
	switch lq.State {
	case delivery.Pending:
	case delivery.Dead:
		index = "dead:"
	default:
		return page, fmt.Errorf("%w: List of state %q (want %q or %q)", delivery.ErrInvalid, lq.State, delivery.Pending, delivery.Dead)
	}
	limit := lq.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var cs, cid string
	if lq.Cursor != "" {
		s, h, ok := strings.Cut(lq.Cursor, "-")
		id, err := hex.DecodeString(h)
		if _, perr := strconv.ParseInt(s, 10, 64); !ok || err != nil || perr != nil {
			return page, fmt.Errorf("%w: bad cursor %q", delivery.ErrInvalid, lq.Cursor)
		}
		cs, cid = s, string(id)
	}
	if err := q.check(); err != nil {
		return page, err
	}
	v, err := q.run(ctx, "list", listScript, q.base+index+lq.Receiver, limit, cs, cid)
	if err != nil {
		return page, err
	}
	a, _ := v.([]any)
	if len(a) == 0 {
		return page, fmt.Errorf("redisqueue: list: %w: the script answered %T", errDamaged, v)
	}
	var lastScore int64
	var lastID string
	for i := 1; i+2 < len(a); i += 3 {
		id, _ := a[i].(string)
		sc, _ := score(a[i+1])
		// A damaged entry is listed with what could be read.
		e, _ := decode(id, lq.Receiver, fields(a[i+2]))
		page.Entries = append(page.Entries, e)
		lastScore, lastID = sc, id
	}
	if more, _ := a[0].(int64); more == 1 {
		page.Next = itoa(lastScore) + "-" + hex.EncodeToString([]byte(lastID))
	}
	return page, nil
}

// replayStep bounds the dead letters one script moves: a replay of a
// whole backlog must not hold Redis (which runs one script at a time) for
// all of it.
const replayStep = 500

// Replay moves the dead letters rq selects back to pending.
func (q *Queue) Replay(ctx context.Context, rq delivery.ReplayQuery, now time.Time) (int, error) {
	if err := q.check(); err != nil {
		return 0, err
	}
	nowns, nowus := itoa(nanos(now)), itoa(micros(now))
	if rq.ID != "" {
		v, err := q.run(ctx, "replay", replayScript, nowns, nowus, "id", rq.ID)
		if err != nil {
			return 0, err
		}
		switch n, _ := v.(int64); n {
		case -1:
			return 0, fmt.Errorf("%w: %q", delivery.ErrNotFound, rq.ID)
		case 1:
			return 1, nil
		}
		return 0, nil
	}
	receivers, err := rq.Receivers(ctx, q.Counts)
	if err != nil {
		return 0, err
	}
	since := itoa(micros(rq.Since))
	total := 0
	for _, r := range receivers {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			v, err := q.run(ctx, "replay", replayScript, nowns, nowus, "r", r, since, replayStep)
			if err != nil {
				return total, err
			}
			a, _ := v.([]any)
			if len(a) != 2 {
				return total, fmt.Errorf("redisqueue: replay: %w: the script answered %T", errDamaged, v)
			}
			moved, _ := a[0].(int64)
			looked, _ := a[1].(int64)
			total += int(moved)
			if looked < replayStep {
				break
			}
		}
	}
	return total, nil
}
