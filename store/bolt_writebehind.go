package store

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// pendingWrites are writes accepted but not yet committed: bucket → key →
// write. Reads look here first. What they hold is bounded: past max
// bytes, put refuses.
type pendingWrites struct {
	mu sync.Mutex
	m  batch
	// committing is the batch being written: still visible to reads
	// until it is in the file.
	committing batch
	bytes, max int
	reported   int    // bytes as last given to the pending gauge
	order      uint64 // of the last write
}

// A batch is bucket → key → write.
type batch map[string]map[string]write

// A write is a record, or nil for a deletion, and its place in the order
// of writes: committed in that order, the data table stays in the order
// the cap evicts by.
type write struct {
	rec   []byte
	order uint64
}

// keyed is a write and its key.
type keyed struct {
	key string
	write
}

// inOrder returns entries in the order they were written.
func inOrder(entries map[string]write) []keyed {
	out := make([]keyed, 0, len(entries))
	for k, w := range entries {
		out = append(out, keyed{k, w})
	}
	slices.SortFunc(out, func(a, b keyed) int { return cmp.Compare(a.order, b.order) })
	return out
}

// pendingOverhead approximates the maps' own memory per entry.
const pendingOverhead = 64

func newPendingWrites(max int) *pendingWrites {
	return &pendingWrites{m: batch{}, max: max}
}

func entrySize(key string, rec []byte) int { return len(key) + len(rec) + pendingOverhead }

func (p *pendingWrites) put(bucket, key string, rec []byte) error {
	size := entrySize(key, rec)
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.m[bucket]
	old, replacing := b[key]
	if !replacing && p.bytes+size > p.max {
		return fmt.Errorf("%w: %d bytes of writes wait for the disk", ErrUnavailable, p.bytes)
	}
	if b == nil {
		b = map[string]write{}
		p.m[bucket] = b
	}
	if replacing {
		p.bytes -= entrySize(key, old.rec)
	}
	p.order++
	b[key] = write{rec, p.order}
	p.bytes += size
	return nil
}

func (p *pendingWrites) get(bucket, key string) ([]byte, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.m[bucket][key]; ok {
		return w.rec, true
	}
	w, ok := p.committing[bucket][key]
	return w.rec, ok
}

// take hands the pending writes over as the batch to commit; nil when
// there are none.
func (p *pendingWrites) take() batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) == 0 {
		return nil
	}
	taken := p.m
	p.m = batch{}
	p.committing = taken
	return taken
}

// finish ends a commit of batch. A failed batch is kept for the next try
// (and for reads), except where a newer write replaced an entry.
func (p *pendingWrites) finish(done batch, committed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.committing = nil
	for name, entries := range done {
		cur := p.m[name]
		if !committed && cur == nil {
			p.m[name] = entries
			continue
		}
		for k, w := range entries {
			if _, newer := cur[k]; committed || newer {
				p.bytes -= entrySize(k, w.rec)
				continue
			}
			cur[k] = w
		}
	}
}

// hasWork reports whether writes wait.
func (p *pendingWrites) hasWork() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m) > 0
}

// counts returns the entries and bytes waiting.
func (p *pendingWrites) counts() (entries, bytes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.m {
		entries += len(b)
	}
	return entries, p.bytes
}

// commit writes every pending entry in one transaction. Entries stay
// visible (as the batch being committed) until they are in the file, so a
// read never misses one in between; a failed commit keeps them for the
// next try. Only the maintain goroutine commits.
func (b *Bolt) commit() error {
	p := b.pending
	if p == nil {
		return nil
	}
	taken := p.take()
	if taken == nil {
		return nil
	}
	err := b.apply(taken)
	p.finish(taken, err == nil)
	return err
}

// reportPending moves the pending gauge to what waits now.
func (b *Bolt) reportPending() {
	p := b.pending
	if p == nil {
		return
	}
	p.mu.Lock()
	delta := p.bytes - p.reported
	p.reported = p.bytes
	p.mu.Unlock()
	b.metrics.addPending(float64(delta))
}

// committingNow returns the entries of the batch being committed.
func (p *pendingWrites) committingNow() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range p.committing {
		n += len(b)
	}
	return n
}
