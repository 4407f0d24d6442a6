package interception

import (
	"bytes"
	"html"
	"slices"
	"strings"

	xhtml "golang.org/x/net/html"
)

// SetInputValues finds the <input name="<name>"> tags of an HTML page whose
// value match picks and gives them the value to. Only those tags are
// written anew (their attributes in their order, values escaped); every
// other byte of the page stays as it was. It reports whether any changed.
func SetInputValues(page []byte, name string, match func(value string) bool, to string) ([]byte, bool) {
	if !bytes.Contains(bytes.ToLower(page), []byte(strings.ToLower(name))) {
		return page, false
	}
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	var out bytes.Buffer
	changed := false
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := z.Raw()
		if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
			if nt, ok := setInputValue(z, raw, name, match, to); ok {
				out.Write(nt)
				changed = true
				continue
			}
		}
		out.Write(raw)
	}
	if !changed {
		return page, false
	}
	return out.Bytes(), true
}

// setInputValue rewrites the current tag if it is the named input with a
// matching value, splicing only the bytes of its value attribute.
func setInputValue(z *xhtml.Tokenizer, raw []byte, name string, match func(string) bool, to string) ([]byte, bool) {
	tag, hasAttr := z.TagName()
	if string(tag) != "input" || !hasAttr {
		return nil, false
	}
	// The tokenizer decides what the tag means (names folded, entities
	// decoded); browsers use the first of repeated attributes.
	var gotName, gotValue bool
	var named bool
	var value string
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "name":
			if !gotName {
				gotName, named = true, string(v) == name
			}
		case "value":
			if !gotValue {
				gotValue, value = true, string(v)
			}
		}
	}
	if !named || !gotValue || !match(value) {
		return nil, false
	}
	start, end, quoted, ok := valueSpan(raw)
	if !ok {
		return nil, false
	}
	nv := html.EscapeString(to)
	if !quoted {
		nv = `"` + nv + `"`
	}
	out := make([]byte, 0, len(raw)+len(nv))
	out = append(out, raw[:start]...)
	out = append(out, nv...)
	return append(out, raw[end:]...), true
}

// valueSpan finds the first value attribute's value in a raw start tag,
// read as HTML's tokenizer reads it (see TagAttrs). quoted says whether
// [start, end) lies inside quotes; a bare value attribute has no span.
func valueSpan(raw []byte) (start, end int, quoted, ok bool) {
	_, attrs := TagAttrs(raw, nil)
	for _, a := range attrs {
		if a.Key == "value" {
			if !a.HasEq || (a.Quote != 0 && a.End >= len(raw)) {
				// No value, or an unterminated quote.
				return 0, 0, false, false
			}
			return a.Start, a.End, a.Quote != 0, true
		}
	}
	return 0, 0, false, false
}

// SetValueAttr returns the raw start tag with its value attribute set to
// v (escaped): the first one replaced, as the tokenizer reads it, or one
// added after the tag name.
func SetValueAttr(raw []byte, v string) []byte {
	nameEnd, attrs := TagAttrs(raw, nil)
	return withValue(raw, nameEnd, attrs, v)
}

// withValue writes raw with its first value attribute set to v.
func withValue(raw []byte, nameEnd int, attrs []TagAttr, v string) []byte {
	nv := `"` + html.EscapeString(v) + `"`
	for _, a := range attrs {
		if a.Key != "value" {
			continue
		}
		if !a.HasEq {
			return slices.Concat(raw[:a.KeyEnd], []byte("="+nv), raw[a.KeyEnd:])
		}
		start, end := a.Start, a.End
		if a.Quote != 0 {
			start, end = start-1, end+1
		}
		if end > len(raw) {
			break
		}
		return slices.Concat(raw[:start], []byte(nv), raw[end:])
	}
	if nameEnd <= 0 || nameEnd > len(raw) {
		return raw
	}
	return slices.Concat(raw[:nameEnd], []byte(" value="+nv), raw[nameEnd:])
}
