package redisstore

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/store"
)

// SetMany stores entries in one round trip, as one MULTI/EXEC
// transaction: a token response's swaps (access, refresh and ID token)
// reach Redis, its AOF and its replicas as one unit, and another instance
// never sees some of them without the others. A plain pipeline would cost
// the same round trip (MULTI and EXEC ride in it) but could leave a
// prefix of the batch stored when Redis refuses the rest (READONLY after
// a failover, OOM).
func (b *Bucket) SetMany(ctx context.Context, entries []store.Entry) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	switch len(entries) {
	case 0:
		return nil
	case 1:
		e := entries[0]
		return b.Set(ctx, e.Key, e.Value, e.TTL)
	}
	var cmds []redis.Cmder
	err := b.conn.Bounded(ctx, func(ctx context.Context) (err error) {
		cmds, err = b.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, e := range entries {
				p.Set(ctx, b.prefix+e.Key, e.Value, expiration(e.TTL))
			}
			return nil
		})
		return err
	})
	if err != nil && strings.HasPrefix(err.Error(), "EXECABORT") {
		// Redis refused a command as it was queued (READONLY, OOM): that
		// says why, EXECABORT only that the transaction was discarded.
		for _, c := range cmds {
			if c.Err() != nil && !strings.HasPrefix(c.Err().Error(), "EXECABORT") {
				err = c.Err()
				break
			}
		}
	}
	return b.outcome(ctx, "kv setmany", err, b.conn.Note)
}

var _ store.Batcher = (*Bucket)(nil)
