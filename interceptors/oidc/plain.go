package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"

	"github.com/idphooks/idphooks/events"
)

// claimEdit is stored in swap entries (see events.ClaimEdit).
type claimEdit = events.ClaimEdit

// editsFor extracts the edits a set of ops makes to one object.
var editsFor = events.EditsFor

// decodeObject reads an IdP document that must be a JSON object
// (discovery, userinfo, introspection), numbers as json.Number so that
// re-encoding keeps them exact. null is not an object.
func decodeObject(body []byte) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("null, not a JSON object")
	}
	return m, nil
}

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
