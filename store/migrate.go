package store

import (
	"bytes"
	"strings"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// migrateBatch bounds one transaction of the upgrade.
const migrateBatch = 10_000

// migrate moves the buckets of the layout before the cap (one bbolt
// bucket per Store, key → entry) into tables (see layout.go), in place,
// a batch per transaction. Each batch records where the next one starts,
// and the old bucket goes once copied, so an interrupted upgrade goes on
// at the next open. Expired and malformed entries are dropped. The old
// layout kept no order, so moved entries are ordered by key: for the cap
// they are all older than anything written since.
func (b *Bolt) migrate() error {
	var legacy []string
	err := b.view(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if !strings.ContainsRune(string(name), '/') {
				legacy = append(legacy, string(name))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, name := range legacy {
		moved, dropped := 0, 0
		progress := []byte(migratingPrefix + name)
		for done := false; !done; {
			var t *table
			err := b.update(func(tx *bbolt.Tx) error {
				old := tx.Bucket([]byte(name))
				if old == nil {
					done = true
					return nil
				}
				var err error
				if t, err = openTable(tx, newTableNames(name), true); err != nil {
					return err
				}
				now := b.now()
				c := old.Cursor()
				k, v := c.First()
				if from := t.meta.Get(progress); from != nil {
					k, v = c.Seek(from)
				}
				for n := 0; k != nil && n < migrateBatch; k, v = c.Next() {
					n++
					if v == nil {
						continue // a bucket: not the old layout's
					}
					exp, value, err := decodeLegacy(v)
					if err != nil || expired(exp, now) {
						dropped++
						continue
					}
					if err := t.put(bytes.Clone(k), encodeRecord(string(k), value, exp)); err != nil {
						return err
					}
					moved++
				}
				if k != nil {
					if err := t.meta.Put(progress, bytes.Clone(k)); err != nil {
						return err
					}
				} else {
					done = true
					if err := tx.DeleteBucket([]byte(name)); err != nil {
						return err
					}
					if err := t.meta.Delete(progress); err != nil {
						return err
					}
				}
				if max := b.maxEntries.Load(); max > 0 {
					if _, err := t.evict(uint64(max), migrateBatch, now); err != nil {
						return err
					}
				}
				return t.save()
			})
			if err != nil {
				return err
			}
			b.metrics.addEvictions(name, t.evicted)
		}
		b.log.Info("state file upgraded to the capped layout",
			zap.String("path", b.path), zap.String("bucket", name), zap.Int("entries", moved), zap.Int("dropped_expired", dropped))
	}
	return nil
}

// migratingPrefix names, in the meta bucket, where an interrupted upgrade
// of a bucket goes on.
const migratingPrefix = "migrating/"
