package store

import (
	"sync"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// pendingWrites are writes accepted but not yet committed: bucket → key →
// encoded entry, nil for a deletion. Reads look here first.
type pendingWrites struct {
	mu sync.Mutex
	m  map[string]map[string][]byte
	// committing is the batch being written: still visible to reads
	// until it is in the file.
	committing map[string]map[string][]byte
}

func (p *pendingWrites) put(bucket []byte, key string, entry []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.m[string(bucket)]
	if b == nil {
		b = map[string][]byte{}
		p.m[string(bucket)] = b
	}
	b[key] = entry
}

func (p *pendingWrites) get(bucket []byte, key string) ([]byte, bool) {
	if p == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.m[string(bucket)][key]; ok {
		return e, true
	}
	e, ok := p.committing[string(bucket)][key]
	return e, ok
}

// commit writes every pending entry in one transaction. Entries stay
// visible (as the batch being committed) until they are in the file, so a
// read never misses one in between; a failed commit keeps them for the
// next try. The maintain goroutine is its only caller.
func (b *Bolt) commit() {
	p := b.pending
	if p == nil {
		return
	}
	p.mu.Lock()
	batch := p.m
	if len(batch) == 0 {
		p.mu.Unlock()
		return
	}
	p.m = map[string]map[string][]byte{}
	p.committing = batch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.committing = nil
		p.mu.Unlock()
	}()
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for name, entries := range batch {
			bk, err := tx.CreateBucketIfNotExists([]byte(name))
			if err != nil {
				return err
			}
			for k, e := range entries {
				if e == nil {
					err = bk.Delete([]byte(k))
				} else {
					err = bk.Put([]byte(k), e)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.log.Error("committing pending writes failed; kept for the next try", zap.String("path", b.db.Path()), zap.Error(err))
		p.mu.Lock()
		for name, entries := range batch {
			cur := p.m[name]
			if cur == nil {
				p.m[name] = entries
				continue
			}
			for k, e := range entries {
				if _, newer := cur[k]; !newer {
					cur[k] = e
				}
			}
		}
		p.mu.Unlock()
	}
}
