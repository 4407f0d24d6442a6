package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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
		nv := jsonQuote(tok)
		if bytes.Equal(old, nv) {
			continue
		}
		i := bytes.Index(out, old)
		if i < 0 || bytes.Contains(out[i+len(old):], old) {
			// Encode the whole object anew, every field of the IdP's kept.
			var all map[string]json.RawMessage
			if err := json.Unmarshal(body, &all); err != nil {
				return body
			}
			for f, t := range tokens {
				if _, ok := all[f]; ok && t != "" {
					all[f] = jsonQuote(t)
				}
			}
			b, _ := json.Marshal(all)
			return b
		}
		spliced := make([]byte, 0, len(out)-len(old)+len(nv))
		spliced = append(spliced, out[:i]...)
		spliced = append(spliced, nv...)
		out = append(spliced, out[i+len(old):]...)
	}
	return out
}

// tokenFields decodes the fields of a token response idphooks reads,
// validating the whole body as a JSON object; the other fields stay in the
// body, which is spliced rather than encoded anew.
func tokenFields(body []byte) (map[string]json.RawMessage, error) {
	var f struct {
		AccessToken json.RawMessage `json:"access_token"`
		IDToken     json.RawMessage `json:"id_token"`
		Scope       json.RawMessage `json:"scope"`
		TokenType   json.RawMessage `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("token response is not a JSON object: %w", err)
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("null")) {
		return nil, fmt.Errorf("token response is not a JSON object: null")
	}
	resp := make(map[string]json.RawMessage, 5)
	add := func(k string, v json.RawMessage) {
		if v != nil {
			resp[k] = v
		}
	}
	add("access_token", f.AccessToken)
	add("id_token", f.IDToken)
	add("scope", f.Scope)
	add("token_type", f.TokenType)
	add("expires_in", f.ExpiresIn)
	return resp, nil
}

// jsonQuote encodes a token as a JSON string. Tokens (base64url, dots,
// hyphens) need no escaping; anything else goes through the encoder.
func jsonQuote(tok string) []byte {
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(tok)
			return b
		}
	}
	b := make([]byte, 0, len(tok)+2)
	b = append(b, '"')
	b = append(b, tok...)
	return append(b, '"')
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
		// A number, or a numeric string as some IdPs send.
		if s, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64); err == nil && s > 0 {
			return time.Now().Add(time.Duration(s) * time.Second)
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
