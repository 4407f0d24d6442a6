package store

import (
	"sync"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// tableStats mirrors each table's entry count after every commit, for the
// entries gauge and the eviction log line.
type tableStats struct {
	mu sync.Mutex
	m  map[string]*tableStat
}

type tableStat struct {
	count    uint64 // as last committed
	evicting bool   // the cap is evicting; logged once when it starts
}

func (s *tableStats) get(name string) *tableStat {
	st := s.m[name]
	if st == nil {
		st = &tableStat{}
		s.m[name] = st
	}
	return st
}

// published records a committed table: its size for the gauge, its
// evictions, and one log line when the cap starts evicting (again: after
// the table fell below nine tenths of the cap).
func (b *Bolt) published(t *table) {
	name := string(t.names.name)
	max := uint64(b.maxEntries.Load())
	b.tables.mu.Lock()
	st := b.tables.get(name)
	b.metrics.addEntries(name, float64(t.count)-float64(st.count))
	st.count = t.count
	startEvicting := t.evicted > 0 && !st.evicting
	if startEvicting {
		st.evicting = true
	} else if st.evicting && (max == 0 || t.count < max/10*9) {
		st.evicting = false
	}
	b.tables.mu.Unlock()
	b.metrics.addEvictions(name, t.evicted)
	if startEvicting {
		b.log.Warn("state table reached its cap; evicting the oldest entries (their tokens no longer swap back: those clients log in again)",
			zap.String("path", b.path), zap.String("bucket", name), zap.Uint64("max_entries", max), zap.Int("evicted", t.evicted))
	}
}

// loadCounts reads every table's count at open.
func (b *Bolt) loadCounts() error {
	var tables []*table
	err := b.view(func(tx *bbolt.Tx) error {
		for _, name := range tableNamesIn(tx) {
			t, err := openTable(tx, newTableNames(name), false)
			if err != nil {
				return err
			}
			if t != nil {
				tables = append(tables, t)
			}
		}
		return nil
	})
	for _, t := range tables {
		b.published(t)
	}
	return err
}

// release takes a closed store's entries out of the gauge.
func (s *tableStats) release(m *Metrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, st := range s.m {
		m.addEntries(name, -float64(st.count))
		st.count = 0
	}
}

// Len returns the entries of bucket as last committed, expired ones not
// yet swept included.
func (b *Bolt) Len(bucket string) int {
	b.tables.mu.Lock()
	defer b.tables.mu.Unlock()
	if st := b.tables.m[bucket]; st != nil {
		return int(st.count)
	}
	return 0
}
