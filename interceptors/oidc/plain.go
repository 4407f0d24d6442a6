package oidc

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/idphooks/idphooks/events"
)

// claimEdit is stored in swap entries (see events.ClaimEdit).
type claimEdit = events.ClaimEdit

// editsFor extracts the edits a set of ops makes to one object.
var editsFor = events.EditsFor

// plain turns decoded JSON (with json.Number) into values a hook can read:
// integral numbers become int64, others float64.
func plain(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return string(t)
		}
		return f
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = plain(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = plain(x)
		}
		return s
	default:
		return v
	}
}

func plainMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return plain(m).(map[string]any)
}
