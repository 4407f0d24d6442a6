package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// tokenAnswer is what idphooks reads of a token response; the other
// fields stay in the body, which is spliced rather than encoded anew.
type tokenAnswer struct {
	AccessToken string
	IDToken     string
	Scope       string
	TokenType   string
	ExpiresIn   []byte // the raw JSON value: a number, or a numeric string

	// Where the access_token and id_token values stand in the body, as
	// written (quotes and any escapes included), for spliceTokens.
	atSpan, idSpan span
}

type span struct{ start, end int }

// tokenFields reads a token response in one pass and records where the
// two token values stand. The body must be a single JSON object. The
// members idphooks reads must be strings (or null) of valid UTF-8 and
// appear once, with no other member differing from them only in case:
// otherwise idphooks and the client could read different tokens, as
// clients keep the first or the last of a repeated member, and Go's
// encoding/json matches names without case. Elsewhere the IdP's bytes are
// not idphooks' to judge (a repeated name deep in authorization_details,
// say): they pass as they are.
func tokenFields(body []byte) (*tokenAnswer, error) {
	var f tokenAnswer
	var seen uint
	if err := readObject(body, tokenDecoding, func(d *jsontext.Decoder, n string) error {
		return f.member(d, n, &seen)
	}); err != nil {
		return nil, fmt.Errorf("token response is not a JSON object with string tokens: %w", err)
	}
	return &f, nil
}

// tokenDecoding leaves repeated names and invalid UTF-8 to member, which
// checks them where they matter.
var tokenDecoding = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// tokenMembers are the members read; their index is their bit in seen.
var tokenMembers = [...]string{"access_token", "id_token", "scope", "token_type", "expires_in"}

// member reads one top-level member of a token response.
func (f *tokenAnswer) member(d *jsontext.Decoder, n string, seen *uint) error {
	k := slices.Index(tokenMembers[:], n)
	if k < 0 {
		for _, m := range tokenMembers {
			if strings.EqualFold(n, m) {
				return fmt.Errorf("member %q differs from %q only in case", n, m)
			}
		}
		return d.SkipValue()
	}
	if *seen&(1<<k) != 0 {
		return fmt.Errorf("member %q appears twice", n)
	}
	*seen |= 1 << k
	v, err := d.ReadValue()
	if err != nil {
		return err
	}
	end := int(d.InputOffset())
	if n == "expires_in" {
		f.ExpiresIn = bytes.Clone(v)
		return nil
	}
	s, null, err := stringValue(n, v)
	if err != nil || null {
		// null reads as absent, as RPs treat it.
		return err
	}
	switch n {
	case "access_token":
		f.AccessToken, f.atSpan = s, span{end - len(v), end}
	case "id_token":
		f.IDToken, f.idSpan = s, span{end - len(v), end}
	case "scope":
		f.Scope = s
	case "token_type":
		f.TokenType = s
	}
	return nil
}

// spliceTokens replaces the token values in the upstream's body where they
// stand, keeping every other byte (field order, formatting, unknown
// fields, an escaped '/' elsewhere) as the IdP wrote it. An empty new
// token leaves its field alone.
func spliceTokens(body []byte, f *tokenAnswer, newAT, newID string) []byte {
	type edit struct {
		at  span
		val string
	}
	edits := make([]edit, 0, 2)
	if newAT != "" && newAT != f.AccessToken && f.atSpan.end > 0 {
		edits = append(edits, edit{f.atSpan, newAT})
	}
	if newID != "" && newID != f.IDToken && f.idSpan.end > 0 {
		edits = append(edits, edit{f.idSpan, newID})
	}
	if len(edits) == 2 && edits[1].at.start < edits[0].at.start {
		edits[0], edits[1] = edits[1], edits[0]
	}
	size := len(body)
	for _, e := range edits {
		size += len(e.val) + 2 - (e.at.end - e.at.start)
	}
	out := make([]byte, 0, size)
	last := 0
	for _, e := range edits {
		out = append(out, body[last:e.at.start]...)
		out = appendJSONString(out, e.val)
		last = e.at.end
	}
	return append(out, body[last:]...)
}

// appendJSONString appends a token as a JSON string. Tokens (base64url,
// dots, hyphens) need no escaping; anything else goes through the encoder.
func appendJSONString(b []byte, tok string) []byte {
	for i := 0; i < len(tok); i++ {
		if !plainJSON[tok[i]] {
			q, _ := json.Marshal(tok)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, tok...)
	return append(b, '"')
}

// plainJSON marks the bytes json.Marshal writes as they are inside a
// string: printable ASCII but for the quote, the backslash and the HTML
// characters it escapes. One lookup per byte: the tokens are long.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

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
