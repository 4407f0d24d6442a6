package forms

import (
	"bytes"
	"fmt"
	"html"
	"slices"
	"strings"

	xhtml "golang.org/x/net/html"
)

// Selector picks elements of a page the way a CSS compound selector does:
// a tag, an id, classes and attribute values (form#kc-form-login,
// span.kc-feedback-text, .error, form[name=f]). It is all profiles need
// to say where a page shows its errors.
type Selector struct {
	Tag     string
	ID      string
	Classes []string
	// Attrs are attribute values the element must have, exactly.
	Attrs map[string]string
}

// ParseSelector reads "tag#id.class[attr=value]"; each part may be left
// out, classes and attributes repeated.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	rest := strings.TrimSpace(s)
	if rest == "" {
		return sel, fmt.Errorf("empty selector")
	}
	bad := func() (Selector, error) {
		return Selector{}, fmt.Errorf("selector %q: only tag#id.class[attr=value] forms are supported", s)
	}
	take := func() string {
		n := strings.IndexAny(rest, "#.[")
		if n < 0 {
			n = len(rest)
		}
		part := rest[:n]
		rest = rest[n:]
		return part
	}
	sel.Tag = strings.ToLower(take())
	for rest != "" {
		kind := rest[0]
		rest = rest[1:]
		if kind == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return bad()
			}
			k, v, ok := strings.Cut(rest[:end], "=")
			rest = rest[end+1:]
			if v = strings.Trim(v, `"'`); !ok || k == "" || strings.ContainsAny(k+v, " []\\\"'") {
				return bad()
			}
			if sel.Attrs == nil {
				sel.Attrs = map[string]string{}
			}
			sel.Attrs[strings.ToLower(k)] = v
			continue
		}
		part := take()
		if part == "" {
			return sel, fmt.Errorf("selector %q: empty id or class", s)
		}
		if kind == '#' {
			sel.ID = part
		} else {
			sel.Classes = append(sel.Classes, part)
		}
	}
	if strings.ContainsAny(sel.Tag+sel.ID+strings.Join(sel.Classes, ""), " >+~[]:*,") {
		return bad()
	}
	return sel, nil
}

// Empty reports a selector that picks every element.
func (sel Selector) Empty() bool {
	return sel.Tag == "" && sel.ID == "" && len(sel.Classes) == 0 && len(sel.Attrs) == 0
}

// MustSelector is ParseSelector for the profiles' own constants.
func MustSelector(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// matches reports whether the tokenizer's current start tag is one sel
// picks; tag and hasAttr are what z.TagName returned (it answers once a
// tag).
func (sel Selector) matches(z *xhtml.Tokenizer, tag []byte, hasAttr bool) bool {
	if sel.Tag != "" && string(tag) != sel.Tag {
		return false
	}
	if sel.ID == "" && len(sel.Classes) == 0 && len(sel.Attrs) == 0 {
		return true
	}
	var id, class string
	var gotID, gotClass bool
	attrs := 0
	seen := map[string]bool{}
	for more := hasAttr; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		// The first of a repeated attribute counts, as in browsers.
		switch key := string(k); {
		case key == "id":
			if !gotID {
				gotID, id = true, string(v)
			}
		case key == "class":
			if !gotClass {
				gotClass, class = true, string(v)
			}
		default:
			if want, ok := sel.Attrs[key]; ok && !seen[key] {
				seen[key] = true
				if string(v) == want {
					attrs++
				}
			}
		}
	}
	if sel.ID != "" && id != sel.ID {
		return false
	}
	if attrs != len(sel.Attrs) {
		return false
	}
	have := strings.Fields(class)
	for _, c := range sel.Classes {
		if !slices.Contains(have, c) {
			return false
		}
	}
	return true
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true,
	"hr": true, "img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// Has reports whether page holds an element sel picks.
func Has(page []byte, sel Selector) bool {
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return false
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			if name, hasAttr := z.TagName(); sel.matches(z, name, hasAttr) {
				return true
			}
		}
	}
}

// Texts returns the text of each element sel picks, whitespace collapsed.
func Texts(page []byte, sel Selector) []string {
	var out []string
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	depth := 0
	var b strings.Builder
	for {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return out
		case xhtml.StartTagToken:
			name, hasAttr := z.TagName()
			if depth > 0 {
				if !voidElements[string(name)] {
					depth++
				}
				continue
			}
			if !voidElements[string(name)] && sel.matches(z, name, hasAttr) {
				depth = 1
				b.Reset()
			}
		case xhtml.EndTagToken:
			if depth > 0 {
				depth--
				if depth == 0 {
					out = append(out, strings.Join(strings.Fields(b.String()), " "))
				}
			}
		case xhtml.TextToken:
			if depth > 0 {
				b.Write(z.Text())
				b.WriteByte(' ')
			}
		}
	}
}

// ReplaceText gives the first element sel picks the text message (escaped)
// in place of its content, and empties the content of the others, so that
// the page shows message alone. n counts the elements picked.
func ReplaceText(page []byte, sel Selector, message string) (out []byte, n int) {
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	var b bytes.Buffer
	b.Grow(len(page) + len(message))
	depth := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := z.Raw()
		switch tt {
		case xhtml.StartTagToken:
			name, hasAttr := z.TagName()
			if depth > 0 {
				if !voidElements[string(name)] {
					depth++
				}
				continue // inside: dropped
			}
			b.Write(raw)
			if !voidElements[string(name)] && sel.matches(z, name, hasAttr) {
				depth = 1
				if n == 0 {
					b.WriteString(html.EscapeString(message))
				}
				n++
			}
			continue
		case xhtml.EndTagToken:
			if depth > 0 {
				depth--
				if depth > 0 {
					continue
				}
			}
		default:
			if depth > 0 {
				continue
			}
		}
		b.Write(raw)
	}
	if n == 0 {
		return page, 0
	}
	return b.Bytes(), n
}

// InsertBefore puts fragment (HTML) right before the first element sel
// picks; ok is false when there is none.
func InsertBefore(page []byte, sel Selector, fragment string) ([]byte, bool) {
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	offset := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			return page, false
		}
		raw := z.Raw()
		if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
			if name, hasAttr := z.TagName(); sel.matches(z, name, hasAttr) {
				return slices.Concat(page[:offset], []byte(fragment), page[offset:]), true
			}
		}
		offset += len(raw)
	}
}
