package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// The file keeps each named Store (Bolt.Bucket) in three bbolt buckets:
//
//	<name>/data    sequence number → record (see entry.go), in the order written
//	<name>/keys    key → sequence number
//	<name>/expiry  expiry ‖ sequence number → nothing
//
// and idphooks/meta holds the layout version and each table's entry count.
//
// Keys are hashes (swap lookup keys), so a table filed by key fills its
// pages about two thirds, and a token answer's ~1.5 KB of entries cost
// ~3.4 KB of file. Filed by sequence number, every write appends: with
// FillPercent 1 the data pages are packed full, and only the small key
// index (56 bytes an entry) takes random inserts. The oldest entry is the
// first one, which is what the cap evicts; the expiry index lets the sweep
// visit only what expired instead of reading the whole file every minute
// (which also kept all of it resident in memory).
const (
	metaBucket   = "idphooks/meta"
	layoutKey    = "layout"
	layoutV2     = "2"
	countPrefix  = "count/"
	dataSuffix   = "/data"
	keysSuffix   = "/keys"
	expirySuffix = "/expiry"

	// appendFill packs pages full: data and expiry keys only grow.
	appendFill = 1.0
)

// tableNames are the bbolt buckets of one named Store.
type tableNames struct {
	name, data, keys, expiry, count []byte
}

func newTableNames(name string) tableNames {
	return tableNames{
		name:   []byte(name),
		data:   []byte(name + dataSuffix),
		keys:   []byte(name + keysSuffix),
		expiry: []byte(name + expirySuffix),
		count:  []byte(countPrefix + name),
	}
}

// validTableName keeps user names apart from the layout's own: a '/' is
// how the layout names its buckets.
func validTableName(name string) error {
	if name == "" {
		return errors.New("store: bucket has no name")
	}
	if strings.ContainsRune(name, '/') {
		return fmt.Errorf("store: bucket name %q contains '/'", name)
	}
	return nil
}

// table is one named Store inside a write transaction.
type table struct {
	names              tableNames
	data, keys, expiry *bbolt.Bucket
	meta               *bbolt.Bucket
	count              uint64
	// changed reports whether count must be written back.
	changed bool
	// evicted counts live entries removed by the cap in this transaction.
	evicted int
}

// openTable returns the table called name, creating its buckets if
// create is set; without create it returns nil when the table is not there.
func openTable(tx *bbolt.Tx, n tableNames, create bool) (*table, error) {
	t := &table{names: n}
	if create {
		var err error
		if t.meta, err = tx.CreateBucketIfNotExists([]byte(metaBucket)); err != nil {
			return nil, err
		}
		if t.data, err = tx.CreateBucketIfNotExists(n.data); err != nil {
			return nil, err
		}
		if t.keys, err = tx.CreateBucketIfNotExists(n.keys); err != nil {
			return nil, err
		}
		if t.expiry, err = tx.CreateBucketIfNotExists(n.expiry); err != nil {
			return nil, err
		}
	} else {
		t.meta, t.data, t.keys, t.expiry = tx.Bucket([]byte(metaBucket)), tx.Bucket(n.data), tx.Bucket(n.keys), tx.Bucket(n.expiry)
		if t.meta == nil || t.data == nil || t.keys == nil || t.expiry == nil {
			return nil, nil
		}
	}
	t.data.FillPercent = appendFill
	t.expiry.FillPercent = appendFill
	if c := t.meta.Get(n.count); len(c) == 8 {
		t.count = binary.BigEndian.Uint64(c)
	}
	return t, nil
}

// save writes the entry count back.
func (t *table) save() error {
	if !t.changed {
		return nil
	}
	return t.meta.Put(t.names.count, binary.BigEndian.AppendUint64(nil, t.count))
}

// put files record under key, replacing what was there. bbolt keeps the
// slices it is given until the commit, so every key here is its own.
func (t *table) put(key, record []byte) error {
	exp, ok := recordExpiry(record)
	if !ok {
		return errBadEntry
	}
	replaced, err := t.remove(key)
	if err != nil {
		return err
	}
	if !replaced {
		t.count++
		t.changed = true
	}
	seq, err := t.data.NextSequence()
	if err != nil {
		return err
	}
	sk := seqKey(seq)
	if err := t.data.Put(sk, record); err != nil {
		return err
	}
	if err := t.keys.Put(key, sk); err != nil {
		return err
	}
	if exp != 0 {
		return t.expiry.Put(expiryKey(exp, seq), nil)
	}
	return nil
}

// remove deletes key and reports whether it was there. The count is the
// caller's to adjust (put replaces, del removes).
func (t *table) remove(key []byte) (bool, error) {
	v := t.keys.Get(key)
	if v == nil {
		return false, nil
	}
	if len(v) != 8 {
		// Not ours: drop the index entry, count nothing.
		return false, t.keys.Delete(key)
	}
	seq := binary.BigEndian.Uint64(v)
	sk := seqKey(seq)
	rec := t.data.Get(sk)
	if err := t.keys.Delete(key); err != nil {
		return false, err
	}
	if rec == nil {
		return false, nil
	}
	if exp, ok := recordExpiry(rec); ok && exp != 0 {
		if err := t.expiry.Delete(expiryKey(exp, seq)); err != nil {
			return false, err
		}
	}
	return true, t.data.Delete(sk)
}

// del removes key, if there.
func (t *table) del(key []byte) error {
	removed, err := t.remove(key)
	if removed {
		t.count--
		t.changed = true
	}
	return err
}

// dropSeq removes the record filed under seq (and its index entries);
// rec is its record, read by the caller. It returns whether an entry went.
func (t *table) dropSeq(sk, rec []byte) (bool, error) {
	seq := binary.BigEndian.Uint64(sk)
	exp, key, _, err := decodeRecord(rec)
	if err == nil {
		// The key may since point at a newer record: only ours goes.
		if v := t.keys.Get(key); v != nil && bytes.Equal(v, sk) {
			if err := t.keys.Delete(bytes.Clone(key)); err != nil {
				return false, err
			}
		}
		if exp != 0 {
			if err := t.expiry.Delete(expiryKey(exp, seq)); err != nil {
				return false, err
			}
		}
	}
	if err := t.data.Delete(bytes.Clone(sk)); err != nil {
		return false, err
	}
	if t.count > 0 {
		t.count--
	}
	t.changed = true
	return true, nil
}

// sweep removes up to limit entries that expired by now, in expiry order,
// and returns how many went and whether more are due.
func (t *table) sweep(now time.Time, limit int) (int, bool, error) {
	c := t.expiry.Cursor()
	n := 0
	for k, _ := c.First(); k != nil; k, _ = c.First() {
		if len(k) != 16 {
			if err := c.Delete(); err != nil {
				return n, false, err
			}
			continue
		}
		if int64(binary.BigEndian.Uint64(k)) > now.UnixNano() {
			return n, false, nil
		}
		if n == limit {
			return n, true, nil
		}
		k = bytes.Clone(k)
		sk := k[8:]
		if rec := t.data.Get(sk); rec != nil {
			if exp, ok := recordExpiry(rec); !ok || exp == int64(binary.BigEndian.Uint64(k)) {
				if _, err := t.dropSeq(sk, rec); err != nil {
					return n, false, err
				}
				n++
			}
		}
		// dropSeq removed the expiry key when the record named it; a
		// stray one goes here.
		if err := t.expiry.Delete(k); err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// evict brings the table down to max entries, oldest first, removing at
// most limit; expired entries go before live ones. It returns how many
// live entries it evicted (t.evicted counts them too).
func (t *table) evict(max uint64, limit int, now time.Time) (int, error) {
	if t.count <= max {
		return 0, nil
	}
	excess := int(min(t.count-max, uint64(limit)))
	swept, _, err := t.sweep(now, excess)
	if err != nil {
		return 0, err
	}
	excess -= swept
	n := 0
	c := t.data.Cursor()
	for k, v := c.First(); k != nil && n < excess; k, v = c.First() {
		if _, err := t.dropSeq(bytes.Clone(k), v); err != nil {
			return n, err
		}
		n++
	}
	t.evicted += n
	return n, nil
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func expiryKey(exp int64, seq uint64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(exp))
	return binary.BigEndian.AppendUint64(b, seq)
}

// getRecord reads the live value under key in a read transaction; the
// value aliases bbolt's memory.
func getRecord(tx *bbolt.Tx, n tableNames, key []byte, now time.Time) ([]byte, error) {
	keys := tx.Bucket(n.keys)
	if keys == nil {
		return nil, ErrNotFound
	}
	sk := keys.Get(key)
	if sk == nil {
		return nil, ErrNotFound
	}
	data := tx.Bucket(n.data)
	if data == nil {
		return nil, ErrNotFound
	}
	rec := data.Get(sk)
	if rec == nil {
		return nil, ErrNotFound
	}
	exp, k, value, err := decodeRecord(rec)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k, key) {
		return nil, errBadEntry
	}
	// Expired entries vanish here at once; the sweep deletes them.
	if expired(exp, now) {
		return nil, ErrNotFound
	}
	return value, nil
}

// tableNamesIn lists the named Stores in the file.
func tableNamesIn(tx *bbolt.Tx) []string {
	var out []string
	_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if n, ok := strings.CutSuffix(string(name), dataSuffix); ok && validTableName(n) == nil {
			out = append(out, n)
		}
		return nil
	})
	return out
}
