package redisqueue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// errDamaged is wrapped by the errors about a message whose hash in Redis
// is not one this package wrote (a field missing or not a number): data
// written by something else, or by hand.
var errDamaged = errors.New("damaged data in Redis")

// decode reads a message's hash fields (as HGETALL gives them) into an
// entry. It always returns what it could read, with id and receiver as
// the caller knows them when the hash lacks them; the error lists what it
// could not.
func decode(id, receiver string, f map[string]string) (delivery.Entry, error) {
	var bad []string
	str := func(k string) string {
		v, ok := f[k]
		if !ok {
			bad = append(bad, k+" missing")
		}
		return v
	}
	num := func(k string) int64 {
		v, ok := f[k]
		if !ok {
			bad = append(bad, k+" missing")
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s is %.40q, not a number", k, v))
		}
		return n
	}
	e := delivery.Entry{Message: delivery.Message{
		ID: f["id"], Receiver: f["r"], Event: str("ev"), Payload: []byte(str("p")), LastError: str("e"),
		Time: fromNanos(num("t")), NextAt: fromNanos(num("n")), Attempt: int(num("a")), LastStatus: int(num("s")),
	}, EnqueuedAt: fromNanos(num("eq")), DeadAt: fromNanos(num("d"))}
	if e.ID == "" {
		e.ID = id
		bad = append(bad, "id missing")
	}
	if e.Receiver == "" {
		e.Receiver = receiver
		bad = append(bad, "r missing")
	}
	switch f["st"] {
	case "p":
		e.State = delivery.Pending
	case "d":
		e.State = delivery.Dead
	default:
		e.State = delivery.Pending
		bad = append(bad, fmt.Sprintf("st is %.10q, not p or d", f["st"]))
	}
	if len(bad) > 0 {
		return e, fmt.Errorf("redisqueue: message %q: %w: %s", id, errDamaged, strings.Join(bad, ", "))
	}
	return e, nil
}

// fields turns a script's HGETALL answer (field, value, ...) into a map;
// anything else gives an empty one.
func fields(v any) map[string]string {
	a, _ := v.([]any)
	f := make(map[string]string, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		k, ok1 := a[i].(string)
		s, ok2 := a[i+1].(string)
		if ok1 && ok2 {
			f[k] = s
		}
	}
	return f
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

// micros is t as a score: Unix microseconds, times before 1970 as 1970.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(t.UnixMicro(), 0)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// score reads a score Redis answered (a double's text).
func score(v any) (int64, bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return int64(f), true
}
