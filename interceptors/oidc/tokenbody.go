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
// fields) as the IdP wrote it. old and new map a field to its token. Where
// a token's JSON text is not found exactly once (an IdP escaping '/', say)
// the object is encoded anew.
func spliceTokens(body []byte, old, new map[string]string) []byte {
	out := body
	for field, tok := range new {
		prev := old[field]
		if tok == "" || prev == "" || tok == prev {
			continue
		}
		ov, nv := jsonQuote(prev), jsonQuote(tok)
		i := bytes.Index(out, ov)
		if i < 0 || bytes.Contains(out[i+len(ov):], ov) {
			return reencodeTokens(body, new)
		}
		spliced := make([]byte, 0, len(out)-len(ov)+len(nv))
		spliced = append(spliced, out[:i]...)
		spliced = append(spliced, nv...)
		out = append(spliced, out[i+len(ov):]...)
	}
	return out
}

// reencodeTokens encodes the whole object anew with the new tokens, every
// other field of the IdP's kept.
func reencodeTokens(body []byte, tokens map[string]string) []byte {
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

// tokenAnswer is what idphooks reads of a token response; the other
// fields stay in the body, which is spliced rather than encoded anew.
type tokenAnswer struct {
	AccessToken string          `json:"access_token"`
	IDToken     string          `json:"id_token"`
	Scope       string          `json:"scope"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
}

// tokenFields decodes a token response, validating the whole body as a
// JSON object whose token fields are strings.
func tokenFields(body []byte) (*tokenAnswer, error) {
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("null")) {
		return nil, fmt.Errorf("token response is not a JSON object: null")
	}
	var f tokenAnswer
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("token response is not a JSON object with string tokens: %w", err)
	}
	return &f, nil
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

// tokenExpiry is when a swap entry for an access token may go: its exp
// claim, or expires_in from the response, or an hour.
func tokenExpiry(atTok *verified, ans *tokenAnswer) time.Time {
	if atTok != nil {
		if t := numericDate(atTok.Claims["exp"]); !t.IsZero() {
			return t
		}
	}
	if raw := ans.ExpiresIn; raw != nil {
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
