package store

import (
	"encoding/binary"
	"errors"
	"time"
)

// An entry is stored as one format byte, the expiry as big-endian Unix
// nanoseconds (0 for never) and the value, so expiry needs no second lookup.
const (
	entryFormat     = 1
	entryHeaderSize = 1 + 8
)

var errBadEntry = errors.New("store: malformed entry")

func expiryFor(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Add(ttl).UnixNano()
}

func encodeEntry(value []byte, expiresAt int64) []byte {
	buf := make([]byte, entryHeaderSize+len(value))
	buf[0] = entryFormat
	binary.BigEndian.PutUint64(buf[1:], uint64(expiresAt))
	copy(buf[entryHeaderSize:], value)
	return buf
}

// decodeEntry returns the expiry and the value, which aliases raw.
func decodeEntry(raw []byte) (expiresAt int64, value []byte, err error) {
	if len(raw) < entryHeaderSize || raw[0] != entryFormat {
		return 0, nil, errBadEntry
	}
	return int64(binary.BigEndian.Uint64(raw[1:])), raw[entryHeaderSize:], nil
}

func expired(expiresAt int64, now time.Time) bool {
	return expiresAt != 0 && now.UnixNano() >= expiresAt
}
