package boltqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// record is a message as the msgs bucket holds it: the message, where it
// is, and the times its index keys are built from (a key is found again
// from its record, to be deleted).
type record struct {
	delivery.Message
	state    byte
	due      time.Time // the due index's time: NextAt, or a lease's end
	enqueued time.Time
	deadAt   time.Time
}

const (
	statePending byte = 1
	stateDead    byte = 2
)

// recordVersion is the first byte of a record; a later layout takes the
// next number and reads this one.
const recordVersion = 1

// encode lays a record out as: version, state, then the strings and
// bytes as uvarint length and content, the times as Unix nanoseconds, the
// numbers as varints.
func (r *record) encode() []byte {
	b := make([]byte, 0, 64+len(r.ID)+len(r.Receiver)+len(r.Event)+len(r.Payload)+len(r.LastError))
	b = append(b, recordVersion, r.state)
	for _, s := range [][]byte{[]byte(r.ID), []byte(r.Receiver), []byte(r.Event), r.Payload, []byte(r.LastError)} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, t := range []time.Time{r.Time, r.NextAt, r.due, r.enqueued, r.deadAt} {
		b = binary.AppendVarint(b, nanos(t))
	}
	b = binary.AppendVarint(b, int64(r.Attempt))
	b = binary.AppendVarint(b, int64(r.LastStatus))
	return b
}

var errBadRecord = errors.New("boltqueue: a record is damaged")

// decode reads what encode wrote; damage is an error, never a panic.
func decode(b []byte) (*record, error) {
	if len(b) < 2 || b[0] != recordVersion {
		return nil, fmt.Errorf("%w: unknown layout", errBadRecord)
	}
	r := &record{state: b[1]}
	if r.state != statePending && r.state != stateDead {
		return nil, fmt.Errorf("%w: unknown state %d", errBadRecord, r.state)
	}
	b = b[2:]
	var fields [5][]byte
	for i := range fields {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, fmt.Errorf("%w: truncated", errBadRecord)
		}
		fields[i] = b[w : w+int(n)]
		b = b[w+int(n):]
	}
	r.ID, r.Receiver, r.Event = string(fields[0]), string(fields[1]), string(fields[2])
	r.Payload = append([]byte(nil), fields[3]...)
	r.LastError = string(fields[4])
	var ints [7]int64
	for i := range ints {
		v, w := binary.Varint(b)
		if w <= 0 {
			return nil, fmt.Errorf("%w: truncated", errBadRecord)
		}
		ints[i] = v
		b = b[w:]
	}
	r.Time, r.NextAt, r.due, r.enqueued, r.deadAt = fromNanos(ints[0]), fromNanos(ints[1]), fromNanos(ints[2]), fromNanos(ints[3]), fromNanos(ints[4])
	r.Attempt, r.LastStatus = int(ints[5]), int(ints[6])
	return r, nil
}

// nanos is t in Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (r *record) entry() delivery.Entry {
	e := delivery.Entry{Message: r.Message, State: delivery.Pending, EnqueuedAt: r.enqueued, DeadAt: r.deadAt}
	if r.state == stateDead {
		e.State = delivery.Dead
	}
	return e
}
