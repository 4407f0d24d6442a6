package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// A record is one entry as the data table keeps it: a format byte, the
// expiry as big-endian Unix nanoseconds (0 for never), the key's length
// (uvarint), the key and the value. The key is in the record so that an
// entry found by age or by expiry can be removed from the key index too.
const (
	recordFormat     = 2
	recordHeaderSize = 1 + 8
)

// Files written before the capped layout kept entries under their key as
// one format byte, the expiry and the value; they are read once, when the
// file is migrated (see migrate.go).
const (
	legacyFormat     = 1
	legacyHeaderSize = 1 + 8
)

var errBadEntry = errors.New("store: malformed entry")

func expiryFor(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

// encodeRecord allocates once: the record is what Set keeps until it is
// committed.
func encodeRecord(key string, value []byte, expiresAt int64) []byte {
	n := recordHeaderSize + uvarintLen(uint64(len(key))) + len(key) + len(value)
	buf := make([]byte, recordHeaderSize, n)
	buf[0] = recordFormat
	binary.BigEndian.PutUint64(buf[1:], uint64(expiresAt))
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return append(buf, value...)
}

// decodeRecord returns the expiry, the key and the value; key and value
// alias raw.
func decodeRecord(raw []byte) (expiresAt int64, key, value []byte, err error) {
	if len(raw) < recordHeaderSize || raw[0] != recordFormat {
		return 0, nil, nil, errBadEntry
	}
	expiresAt = int64(binary.BigEndian.Uint64(raw[1:]))
	rest := raw[recordHeaderSize:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return 0, nil, nil, errBadEntry
	}
	rest = rest[w:]
	return expiresAt, rest[:n], rest[n:], nil
}

// recordExpiry reads only the expiry of a record.
func recordExpiry(raw []byte) (int64, bool) {
	if len(raw) < recordHeaderSize || raw[0] != recordFormat {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(raw[1:])), true
}

// decodeLegacy reads an entry of the layout before the cap.
func decodeLegacy(raw []byte) (expiresAt int64, value []byte, err error) {
	if len(raw) < legacyHeaderSize || raw[0] != legacyFormat {
		return 0, nil, errBadEntry
	}
	return int64(binary.BigEndian.Uint64(raw[1:])), raw[legacyHeaderSize:], nil
}

func expired(expiresAt int64, now time.Time) bool {
	return expiresAt != 0 && now.UnixNano() >= expiresAt
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
