// Package groupcommit batches the writes of concurrent callers into
// commits: each caller hands its write to the next batch and waits for
// the commit it was in, so a durable queue pays one fsync (or one round
// trip to Redis) per batch, not per write, and a caller is answered only
// once its write is stored. Both delivery queues commit through it
// (delivery/boltqueue, delivery/redisqueue).
package groupcommit

import "context"

// Op is one caller's write, waiting for its batch.
type Op[T any] struct {
	// Value is the write.
	Value T
	done  chan error
}

// Done answers the op's caller: nil once the write is stored.
func (o *Op[T]) Done(err error) { o.done <- err }

// Batcher hands writes from callers (Submit) to commit loops (Loop).
type Batcher[T any] struct {
	ops  chan *Op[T]
	stop <-chan struct{}
}

// New makes a Batcher whose Submit and Loop end once stop is closed.
func New[T any](stop <-chan struct{}) *Batcher[T] {
	return &Batcher[T]{ops: make(chan *Op[T]), stop: stop}
}

// Submit hands v to the next batch and waits for its commit's answer.
// Once stop is closed it returns closed. When ctx ends first, ctx's
// error comes back, and the write may still be committed.
func (b *Batcher[T]) Submit(ctx context.Context, v T, closed error) error {
	o := &Op[T]{Value: v, done: make(chan error, 1)}
	select {
	case b.ops <- o:
	case <-b.stop:
		return closed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Loop takes the ops that are waiting — the first one, then more while
// their weights sum to less than max (an op heavier than max goes alone)
// — and hands each batch to commit, which answers every op of it, until
// stop is closed. Several Loops may run on one Batcher: one commits
// while the next batch fills.
func (b *Batcher[T]) Loop(max int, weight func(T) int, commit func([]*Op[T])) {
	var batch []*Op[T]
	for {
		batch = batch[:0]
		select {
		case o := <-b.ops:
			batch = append(batch, o)
		case <-b.stop:
			return
		}
		n := weight(batch[0].Value)
	more:
		for n < max {
			select {
			case o := <-b.ops:
				batch = append(batch, o)
				n += weight(o.Value)
			default:
				break more
			}
		}
		commit(batch)
	}
}
