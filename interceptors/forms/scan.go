package forms

import (
	"bytes"
	"errors"
	"html"
	"slices"
	"strings"

	xhtml "golang.org/x/net/html"

	"github.com/idphooks/idphooks/interception"
)

// Markup is where a profile's page for one form shows what idphooks
// needs: the form, the error, and the alert to add when there is none.
type Markup struct {
	// Form picks the form on the IdP's page.
	Form Selector
	// Error picks where the page shows errors.
	Error Selector
	// Alert is the HTML put right before the form when the page shows no
	// error; {message} stands for the escaped message.
	Alert string
}

// Page is an IdP's HTML page as one pass of the tokenizer read it: enough
// to tell a failure from another page, and to show a message and typed
// values in the IdP's own markup without reading it again.
type Page struct {
	raw   []byte
	alert string
	// formAt is the offset of the form's start tag; -1 without one.
	formAt int
	errs   []errorSpan
	inputs []inputTag
}

// errorSpan is the content of an element Markup.Error picks.
type errorSpan struct {
	start, end int // the content, between the start and end tags
	text       string
}

// inputTag is an <input> the page may fill: a text-like one with a name.
type inputTag struct {
	start, end int
	name       string
}

// unfilled are the input types never given a typed value: secrets, the
// page's own hidden state, and controls whose value is not typed.
var unfilled = map[string]bool{"password": true, "hidden": true, "submit": true, "button": true, "reset": true,
	"image": true, "file": true, "checkbox": true, "radio": true}

// ScanPage reads raw once with the HTML tokenizer, the way browsers split
// it (text in scripts and comments is not markup).
func ScanPage(raw []byte, m Markup) *Page {
	p := &Page{raw: raw, alert: m.Alert, formAt: -1}
	z := xhtml.NewTokenizer(bytes.NewReader(raw))
	var t tagInfo
	offset := 0
	depth := 0 // inside an error element: its nesting
	// Inside a <template>: inert markup scripts clone (Keycloak keeps
	// its client-side error markup there), never shown as it stands.
	templates := 0
	var text strings.Builder
	form, errs := newPicker(m.Form, raw), newPicker(m.Error, raw)
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		n := len(z.Raw())
		switch tt {
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			// The tag is read from its raw bytes, as the tokenizer read
			// it: its TagName and TagAttr copy every name and value. Its
			// attributes are read only when it may be one of interest.
			raw := z.Raw()
			name := rawTagName(raw)
			void := isVoid(name) || tt == xhtml.SelfClosingTagToken
			if !void && strings.EqualFold(string(name), "template") {
				templates++
			}
			if templates > 0 && depth == 0 {
				break
			}
			if depth > 0 {
				if !void {
					depth++
				}
				break
			}
			if !strings.EqualFold(string(name), "input") && (p.formAt >= 0 || !form.may(name, offset, offset+n)) && !errs.may(name, offset, offset+n) {
				break
			}
			t.read(raw)
			if p.formAt < 0 && t.is(m.Form) {
				p.formAt = offset
			}
			if t.input() {
				p.inputs = append(p.inputs, inputTag{start: offset, end: offset + n, name: string(t.name)})
			}
			if !void && t.is(m.Error) {
				depth = 1
				text.Reset()
				p.errs = append(p.errs, errorSpan{start: offset + n})
			}
		case xhtml.EndTagToken:
			if templates > 0 && endTagIs(z.Raw(), "template") {
				templates--
			}
			if depth > 0 {
				if depth--; depth == 0 {
					e := &p.errs[len(p.errs)-1]
					e.end, e.text = offset, strings.Join(strings.Fields(text.String()), " ")
				}
			}
		case xhtml.TextToken:
			if depth > 0 {
				text.Write(z.Text())
				text.WriteByte(' ')
			}
		}
		offset += n
	}
	if depth > 0 {
		// An error element the page never closes: it runs to the end.
		e := &p.errs[len(p.errs)-1]
		e.end, e.text = offset, strings.Join(strings.Fields(text.String()), " ")
	}
	return p
}

// endTagIs reports whether the raw end tag closes a name element.
func endTagIs(raw []byte, name string) bool {
	rest, ok := bytes.CutPrefix(raw, []byte("</"))
	if !ok || len(rest) < len(name) {
		return false
	}
	if !strings.EqualFold(string(rest[:len(name)]), name) {
		return false
	}
	return len(rest) == len(name) || strings.IndexByte(" \t\n\f\r/>", rest[len(name)]) >= 0
}

// HasForm reports whether the page holds the form.
func (p *Page) HasForm() bool { return p != nil && p.formAt >= 0 }

// Message is the page's first non-empty error text.
func (p *Page) Message() string {
	if p == nil {
		return ""
	}
	for _, e := range p.errs {
		if e.text != "" {
			return e.text
		}
	}
	return ""
}

// ErrNoForm is Show's answer for a page with neither an error nor the form.
var ErrNoForm = errors.New("the page holds neither an error nor the form to show the message at")

// Show returns the page with message where it shows errors: the first
// error element's content replaced by it (escaped), the others emptied,
// or else the Markup's alert right before the form; and each
// text input named in values given that value (escaped), as a browser
// shows what was typed. Every other byte stays as the IdP sent it.
func (p *Page) Show(message string, values map[string]string) ([]byte, error) {
	type edit struct {
		start, end int
		with       []byte
	}
	var edits []edit
	escaped := html.EscapeString(message)
	switch {
	case len(p.errs) > 0:
		for k, e := range p.errs {
			var with []byte
			if k == 0 {
				with = []byte(escaped)
			}
			edits = append(edits, edit{e.start, e.end, with})
		}
	case p.formAt >= 0:
		edits = append(edits, edit{p.formAt, p.formAt, []byte(strings.Replace(p.alert, "{message}", escaped, 1))})
	default:
		return nil, ErrNoForm
	}
	for _, in := range p.inputs {
		if v, ok := values[in.name]; ok {
			edits = append(edits, edit{in.start, in.end, interception.SetValueAttr(p.raw[in.start:in.end], v)})
		}
	}
	// The scan found them in page order; error edits and input edits
	// interleave.
	slices.SortStableFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	out.Grow(len(p.raw) + len(message) + len(p.alert))
	at := 0
	for _, e := range edits {
		if e.start < at {
			// Inside an element already replaced (an input in the old
			// error): gone with it.
			continue
		}
		out.Write(p.raw[at:e.start])
		out.Write(e.with)
		at = e.end
	}
	out.Write(p.raw[at:])
	return out.Bytes(), nil
}

// tagInfo is what the selectors and the input filling ask of a start tag.
type tagInfo struct {
	raw   []byte
	tag   []byte // as written; compared without regard to case
	attrs []interception.TagAttr
	// The first id, class, name and type, entities decoded; they may
	// point into raw.
	id, class, name, typ []byte
}

func (t *tagInfo) read(raw []byte) {
	nameEnd, attrs := interception.TagAttrs(raw, t.attrs[:0])
	*t = tagInfo{raw: raw, tag: raw[1:max(nameEnd, 1)], attrs: attrs}
	_ = t.tag
	var got [4]bool
	for _, a := range attrs {
		var k int
		switch a.Key {
		case "id":
			k = 0
		case "class":
			k = 1
		case "name":
			k = 2
		case "type":
			k = 3
		default:
			continue
		}
		if got[k] {
			continue // the first of a repeated attribute counts, as in browsers
		}
		got[k] = true
		v := t.value(a)
		switch k {
		case 0:
			t.id = v
		case 1:
			t.class = v
		case 2:
			t.name = v
		case 3:
			t.typ = v
		}
	}
}

// value is an attribute's value as the tokenizer gives it: entities
// decoded (a copy then; raw itself otherwise).
func (t *tagInfo) value(a interception.TagAttr) []byte {
	v := t.raw[a.Start:a.End]
	if bytes.IndexByte(v, '&') >= 0 {
		return []byte(html.UnescapeString(string(v)))
	}
	return v
}

// rawTagName is a raw start tag's name, as written.
func rawTagName(raw []byte) []byte {
	if len(raw) < 2 {
		return nil
	}
	end := 1
	for end < len(raw) {
		switch raw[end] {
		case ' ', '\t', '\n', '\f', '\r', '/', '>':
			return raw[1:end]
		}
		end++
	}
	return raw[1:end]
}

// isVoid reports an element without an end tag. It runs on every start
// tag of a page: a switch, not a map (a map's hash cost a tenth of a
// scan).
func isVoid(name []byte) bool {
	var buf [6]byte
	if len(name) < 2 || len(name) > len(buf) {
		return false
	}
	for k, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[k] = c
	}
	switch string(buf[:len(name)]) {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// picker tells, tag after tag in page order, whether a selector may pick
// a tag from the tag's bytes: its name matches, and every id, class and
// attribute value the selector asks for is written in it, or an entity
// in it may spell one. It keeps, for each of those needles, the next
// place in the page that may hold it, so that a tag away from all of
// them costs a comparison, not a search: ScanPage asks it of every tag.
type picker struct {
	sel     Selector
	page    []byte
	needles []string
	// next[k] is the offset of the first place from from[k] on that may
	// hold needles[k]: where it is written, or an entity that may decode
	// to one of its bytes; len(page) when there is none. from[k] is -1
	// before the first search.
	next, from []int
	// or picks for the next selector of a group.
	or *picker
}

func newPicker(sel Selector, page []byte) *picker {
	pk := &picker{sel: sel, page: page}
	if sel.Or != nil {
		pk.or = newPicker(*sel.Or, page)
	}
	if sel.ID != "" {
		pk.needles = append(pk.needles, sel.ID)
	}
	pk.needles = append(pk.needles, sel.Classes...)
	for _, v := range sel.Attrs {
		pk.needles = append(pk.needles, v)
	}
	pk.next = make([]int, len(pk.needles))
	pk.from = make([]int, len(pk.needles))
	for k := range pk.needles {
		pk.from[k] = -1
	}
	return pk
}

// may reports whether the selector may pick the tag named name at
// page[start:end]. Calls come in page order.
func (pk *picker) may(name []byte, start, end int) bool {
	if pk.or != nil && pk.or.may(name, start, end) {
		return true
	}
	sel := pk.sel
	if sel.Empty() || (sel.Tag != "" && !strings.EqualFold(string(name), sel.Tag)) {
		return false
	}
	for k, s := range pk.needles {
		if pk.from[k] < 0 || pk.next[k] < start {
			pk.next[k] = start + nextHold(pk.page[start:], s)
			pk.from[k] = start
		}
		if pk.next[k] >= end {
			return false
		}
	}
	return true
}

// nextHold is the offset in b of the first place that may hold s once
// entities are decoded: where s is written, or an entity that may decode
// to a byte of s; len(b) when there is none.
func nextHold(b []byte, s string) int {
	lit := bytes.Index(b, []byte(s))
	if lit < 0 {
		lit = len(b)
	}
	for at := 0; at < lit; {
		i := bytes.IndexByte(b[at:lit], '&')
		if i < 0 {
			break
		}
		at += i
		n, c := plainEntity(b[at:])
		if n == 0 || strings.IndexByte(s, c) >= 0 {
			return at
		}
		at += n
	}
	return lit
}

// plainEntity reads the entity at the start of b when it is one of the
// markup characters' (&amp; &lt; &gt; &quot; &apos; &#39; &#34;, always
// spelled with their semicolon here): its length and the byte it decodes
// to; 0 for any other.
func plainEntity(b []byte) (int, byte) {
	for _, e := range [...]struct {
		name string
		c    byte
	}{{"&amp;", '&'}, {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&#39;", '\''}, {"&apos;", '\''}, {"&#34;", '"'}} {
		if bytes.HasPrefix(b, []byte(e.name)) {
			return len(e.name), e.c
		}
	}
	return 0, 0
}

// is reports whether sel picks the tag.
func (t *tagInfo) is(sel Selector) bool {
	if sel.Or != nil && t.is(*sel.Or) {
		return true
	}
	if sel.Empty() || (sel.Tag != "" && !strings.EqualFold(string(t.tag), sel.Tag)) {
		return false
	}
	if sel.ID != "" && string(t.id) != sel.ID {
		return false
	}
	for _, c := range sel.Classes {
		if !hasClass(t.class, c) {
			return false
		}
	}
	for k, want := range sel.Attrs {
		if v, ok := t.attr(k); !ok || string(v) != want {
			return false
		}
	}
	return true
}

// attr is the first value of attribute k.
func (t *tagInfo) attr(k string) ([]byte, bool) {
	for _, a := range t.attrs {
		if a.Key == k {
			return t.value(a), true
		}
	}
	return nil, false
}

// input reports a text-like input with a name: one a typed value goes in.
func (t *tagInfo) input() bool {
	return len(t.name) > 0 && strings.EqualFold(string(t.tag), "input") && !unfilled[strings.ToLower(string(t.typ))]
}

// hasClass reports whether the class attribute value lists c.
func hasClass(class []byte, c string) bool {
	for len(class) > 0 {
		i := bytes.IndexAny(class, " \t\n\f\r")
		if i < 0 {
			return string(class) == c
		}
		if string(class[:i]) == c {
			return true
		}
		class = class[i+1:]
	}
	return false
}
