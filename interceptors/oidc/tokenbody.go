package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// spliceTokens replaces token values in the upstream's body where they
// stand, keeping every other byte (field order, formatting, unknown
// fields) as the IdP wrote it. A token's JSON text is unique in the body,
// which is checked; should it not be, the object is encoded anew.
func spliceTokens(body []byte, resp map[string]json.RawMessage, tokens map[string]string) []byte {
	out := body
	for field, tok := range tokens {
		old, ok := resp[field]
		if !ok || tok == "" {
			continue
		}
		nv, _ := json.Marshal(tok)
		if bytes.Equal(old, nv) {
			continue
		}
		if bytes.Count(out, old) != 1 {
			for f, t := range tokens {
				if _, ok := resp[f]; ok && t != "" {
					resp[f], _ = json.Marshal(t)
				}
			}
			b, _ := json.Marshal(resp)
			return b
		}
		out = bytes.Replace(out, old, nv, 1)
	}
	return out
}

func jsonString(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	// raw was validated with the whole body; a JSON string without a
	// backslash has no escapes, and tokens never do: skip the decoder.
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : n-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("token response field %q is not a string", key)
	}
	return s, nil
}

// tokenExpiry is when a swap entry for an access token may go: its exp
// claim, or expires_in from the response, or an hour.
func tokenExpiry(atTok *verified, resp map[string]json.RawMessage) time.Time {
	if atTok != nil {
		if t := numericDate(atTok.Claims["exp"]); !t.IsZero() {
			return t
		}
	}
	if raw, ok := resp["expires_in"]; ok {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			if s, err := n.Int64(); err == nil && s > 0 {
				return time.Now().Add(time.Duration(s) * time.Second)
			}
		}
	}
	return time.Now().Add(time.Hour)
}

func numericDate(v any) time.Time {
	switch n := v.(type) {
	case json.Number:
		if f, err := n.Float64(); err == nil {
			return time.Unix(int64(f), 0)
		}
	case float64:
		return time.Unix(int64(n), 0)
	case int64:
		return time.Unix(n, 0)
	}
	return time.Time{}
}
