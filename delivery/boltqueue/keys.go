package boltqueue

import (
	"bytes"
	"encoding/binary"
	"time"
)

// The file's buckets. Messages live in msgs, by ID; the others are
// indexes of empty values whose keys are a receiver's name, a NUL, a time
// (8 bytes, big-endian Unix nanoseconds, so byte order is time order) and
// the ID: each receiver's messages are one range, in time order, and a
// receiver paused or gone costs the others nothing.
var (
	bucketMeta    = []byte("meta")
	bucketMsgs    = []byte("msgs")
	bucketDue     = []byte("due")     // pending, by the time they are due (a lease moves it)
	bucketPending = []byte("pending") // pending, by enqueue time
	bucketDead    = []byte("dead")    // dead letters, by death time
	bucketCounts  = []byte("counts")  // receiver → pending, dead (8 bytes each)

	keyLayout = []byte("layout")
	// layoutV1 is the meta bucket's layout value; a file without it is
	// not a queue file.
	layoutV1 = []byte("idphooks-queue-1")
)

var allBuckets = [][]byte{bucketMeta, bucketMsgs, bucketDue, bucketPending, bucketDead, bucketCounts}

// prefix is the start of receiver's range in an index.
func prefix(receiver string) []byte {
	p := make([]byte, 0, len(receiver)+1)
	return append(append(p, receiver...), 0)
}

// indexKey is receiver's key for t and id.
func indexKey(receiver string, t time.Time, id string) []byte {
	k := make([]byte, 0, len(receiver)+9+len(id))
	k = append(append(k, receiver...), 0)
	k = binary.BigEndian.AppendUint64(k, stamp(t))
	return append(k, id...)
}

// seekKey is where receiver's range reaches t.
func seekKey(receiver string, t time.Time) []byte {
	k := prefix(receiver)
	return binary.BigEndian.AppendUint64(k, stamp(t))
}

// stamp is t as an index orders it; times before 1970 sort as 1970.
func stamp(t time.Time) uint64 {
	n := nanos(t)
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// keyTime reads the time of an index key of the receiver whose prefix p is.
func keyTime(p, k []byte) (time.Time, bool) {
	if !bytes.HasPrefix(k, p) || len(k) < len(p)+8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[len(p):]))).UTC(), true
}
