package binding

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"strings"

	xhtml "golang.org/x/net/html"

	"github.com/idphooks/idphooks/interception"
)

// DefaultMaxPage is the page size ParsePost refuses above when given no cap.
// Keycloak's themed page is about 16 kB with a signed response in it.
const DefaultMaxPage = 1 << 20

// Field is one form field of a POST binding page.
type Field struct {
	Name string
	// Value is what the browser posts: entities decoded, as x/net/html
	// reads the attribute.
	Value string
	// Start and End delimit the value's bytes in the page, still escaped
	// and without their quotes. They are equal for an empty value, for a
	// bare attribute (just past its name) and for a missing one (just past
	// the tag name, where Splice adds it).
	Start, End int
	shape      valueShape
}

type valueShape uint8

const (
	quoted   valueShape = iota // value="…" or value='…'
	unquoted                   // value=…
	bare                       // value, without '='
	missing                    // no value attribute
)

// PostForm is the form of an HTTP-POST binding page that carries the SAML
// message, with the positions of what a caller may change.
type PostForm struct {
	// Action is the form's action, nil when it has none (the browser then
	// posts to the page's own URL). It is not resolved against the page's
	// URL nor a <base>.
	Action *Field
	// Method is the form's method in lower case, "" when absent (a GET).
	Method string
	// Start and End delimit the <form> start tag.
	Start, End int
	// Message is the SAMLResponse or SAMLRequest field.
	Message Field
	// RelayState is nil when the form posts none.
	RelayState *Field
}

// ParsePost finds, in an HTTP-POST binding page, the one form that posts a
// SAMLResponse or SAMLRequest. It reads the page as x/net/html's tokenizer
// does (tags and attribute names in any case, any quoting, entities) and
// gives fields to forms as browsers do: between <form> and </form>, a
// nested <form> ignored, or through a form="id" attribute.
//
// A page over max bytes (DefaultMaxPage when max <= 0) is ErrTooLarge; one
// with no such field ErrNoMessage. What browsers, SPs and idphooks could
// read differently is ErrAmbiguous: more than one message field anywhere
// (SAMLResponse twice, in two forms, beside a SAMLRequest, or outside any
// form beside one inside), the one message field outside any form (a
// script, or a tree builder closing forms elsewhere, may post it), more
// than one RelayState in the form, a
// repeated attribute on a field or on the form, a field named in another
// letter case (ASP.NET reads form names without regard to case), a field
// inside <noscript> or <template>, a disabled field, one that is not a
// text or hidden input.
func ParsePost(page []byte, max int) (*PostForm, error) {
	if max <= 0 {
		max = DefaultMaxPage
	}
	if len(page) > max {
		return nil, fmt.Errorf("%w: page of %d bytes, the cap is %d", ErrTooLarge, len(page), max)
	}
	return parsePost(page, minHeld, maxDropped)
}

// parsePost is ParsePost holding back values of at least min bytes
// (none when min <= 0) and reading the page whole once more than dropped
// candidates turn out not to be values (never when dropped < 0).
func parsePost(page []byte, min, dropped int) (*PostForm, error) {
	var cuts []cut
	if min > 0 {
		cuts = holdBack(page, min)
	}
	for n := 0; ; n++ {
		var r io.Reader = bytes.NewReader(page)
		if len(cuts) > 0 {
			r = newHeldReader(page, cuts)
		}
		p := postParser{page: page, z: xhtml.NewTokenizer(r), cuts: cuts}
		p.attrs, p.raw = p.attrBuf[:0], p.rawBuf[:0]
		err := p.scan()
		if nh, ok := err.(*notHeld); ok {
			if dropped >= 0 && n >= dropped {
				cuts = nil
			} else {
				cuts = append(cuts[:nh.i:nh.i], cuts[nh.i+1:]...)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return p.result()
	}
}

// Decode returns the SAML message: the field's base64, line breaks and
// other white space ignored, decoded.
func (f *PostForm) Decode() ([]byte, error) {
	if strings.TrimSpace(f.Message.Value) == "" {
		return nil, fmt.Errorf("%w: %s is empty", ErrMalformed, f.Message.Name)
	}
	// The decoded message is shorter than its base64, and the page was
	// capped: the value's length bounds it.
	b, err := DecodeMessage(f.Message.Value, len(f.Message.Value))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Message.Name, err)
	}
	return b, nil
}

// SetMessage returns page, the page f was parsed from, with the message
// replaced by message in one-line base64. No other byte changes.
func (f *PostForm) SetMessage(page, message []byte) []byte {
	// Base64 holds nothing HTML escapes: encode straight into the page.
	n := base64.StdEncoding.EncodedLen(len(message))
	return splice(page, f.Message, n, func(dst []byte) { base64.StdEncoding.Encode(dst, message) })
}

// Splice returns page, the page f was parsed from, with f's value replaced
// by value, HTML-escaped; every other byte stays. An unquoted value comes
// back quoted, a bare or missing one is given its '=' or attribute.
func Splice(page []byte, f Field, value string) []byte {
	esc := html.EscapeString(value)
	return splice(page, f, len(esc), func(dst []byte) { copy(dst, esc) })
}

// splice puts n bytes, written by put, in the place of f's value.
func splice(page []byte, f Field, n int, put func(dst []byte)) []byte {
	var pre, post string
	switch f.shape {
	case unquoted:
		pre, post = `"`, `"`
	case bare:
		pre, post = `="`, `"`
	case missing:
		pre, post = ` value="`, `"`
	}
	out := make([]byte, len(page)-(f.End-f.Start)+len(pre)+n+len(post))
	i := copy(out, page[:f.Start])
	i += copy(out[i:], pre)
	put(out[i : i+n])
	i += n
	i += copy(out[i:], post)
	copy(out[i:], page[f.End:])
	return out
}

// The names of the fields the binding posts.
const (
	nameResponse = "SAMLResponse"
	nameRequest  = "SAMLRequest"
	nameRelay    = "RelayState"
)

type form struct {
	start, end int
	id         string
	action     *Field
	method     string
	flaw       string // why the form tag itself is ambiguous
}

type input struct {
	field    Field
	owner    *form
	formID   string // the form="id" attribute
	byID     bool
	inNoForm bool
}

// attr is an attribute as the tokenizer reads it. key and val are the
// tokenizer's slices (or, for a held-back value, the page's), valid until
// its next token: only what a form or field keeps becomes a string.
type attr struct {
	key, val []byte
	at       int // index in postParser.raw
}

type postParser struct {
	page     []byte
	z        *xhtml.Tokenizer
	cuts     []cut // held back from the tokenizer, in page order
	next     int   // the first cut the tokenizer has not yet reached
	raw      []interception.TagAttr
	attrs    []attr
	forms    []*form
	open     *form
	inputs   []*input
	noscript int
	template int
	attrBuf  [8]attr
	rawBuf   [8]interception.TagAttr
}

func (p *postParser) scan() error {
	off := 0 // in the page, held-back values counted
	for {
		tt := p.z.Next()
		start := off
		raw := p.z.Raw()
		end := start + len(raw)
		// The cuts whose stand-in falls in this token, which must be a
		// start tag holding all of it.
		first := p.next
		for ; p.next < len(p.cuts) && p.cuts[p.next].start < end; p.next++ {
			c := p.cuts[p.next]
			if c.start+len(heldValue) > end || (tt != xhtml.StartTagToken && tt != xhtml.SelfClosingTagToken) {
				return &notHeld{p.next}
			}
			end += c.end - c.start - len(heldValue)
		}
		off = end
		cuts := p.cuts[first:p.next]
		switch tt {
		case xhtml.ErrorToken:
			if err := p.z.Err(); err != io.EOF {
				return fmt.Errorf("%w: reading the page: %v", ErrMalformed, err)
			}
			return nil
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			// The tokenizer's name begins with raw[1] in lower case: most
			// tags are passed over before TagName copies their name.
			if len(cuts) == 0 && !startsOurs(raw[1], "fibtsn") {
				continue
			}
			name, hasAttr := p.z.TagName()
			var t tagRead
			// Controls are read for their fields; any tag for its held values.
			if control(name) || len(cuts) > 0 {
				t = p.readAttrs(start, end, hasAttr)
			}
			if !p.confirm(start, cuts, t) {
				return &notHeld{first}
			}
			switch string(name) {
			case "form":
				p.formTag(start, end, t)
			case "input":
				if err := p.inputTag(start, t); err != nil {
					return err
				}
			case "button", "textarea", "select":
				if err := p.otherControl(string(name), start); err != nil {
					return err
				}
			case "noscript":
				// With scripting off, browsers read its content as markup
				// (and submit the fields in it): read it so too.
				p.noscript++
				p.z.NextIsNotRawText()
			case "template":
				p.template++
			}
		case xhtml.EndTagToken:
			if !startsOurs(raw[2], "fnt") {
				continue
			}
			name, _ := p.z.TagName()
			switch string(name) {
			case "form":
				if p.template == 0 {
					p.open = nil
				}
			case "noscript":
				p.noscript = max(0, p.noscript-1)
			case "template":
				p.template = max(0, p.template-1)
			}
		}
	}
}

// control reports whether the tag named name is one whose attributes the
// parser reads: a form, or a control that could post a binding field.
func control(name []byte) bool {
	switch string(name) {
	case "form", "input", "button", "textarea", "select":
		return true
	}
	return false
}

// startsOurs reports whether c, the ASCII letter a tag name starts with
// (the tokenizer makes no tag of anything else), is one of firsts in lower
// case.
func startsOurs(c byte, firsts string) bool {
	return strings.IndexByte(firsts, c|0x20) >= 0
}

// tagRead is what readAttrs tells of a tag.
type tagRead struct {
	nameEnd  int    // the offset just past the tag name
	repeated string // the first attribute the tag repeats
	ok       bool   // false when the tokenizer and TagAttrs read it differently
}

// readAttrs reads the attributes of the tag at page[start:end]: the
// tokenizer's values and TagAttrs' spans, which must agree. The tag is
// read from the page, held-back values included.
func (p *postParser) readAttrs(start, end int, hasAttr bool) (t tagRead) {
	p.attrs = p.attrs[:0]
	for more := hasAttr; more; {
		var k, v []byte
		k, v, more = p.z.TagAttr()
		p.attrs = append(p.attrs, attr{key: k, val: v})
	}
	t.nameEnd, p.raw = interception.TagAttrs(p.page[start:end], p.raw[:0])
	j := 0
	for i, a := range p.raw {
		first := true
		for _, b := range p.raw[:i] {
			if b.Key == a.Key {
				first = false
				if t.repeated == "" {
					t.repeated = a.Key
				}
				break
			}
		}
		if first {
			if j >= len(p.attrs) || string(p.attrs[j].key) != a.Key {
				return t
			}
			p.attrs[j].at = i
			j++
		}
	}
	t.ok = j == len(p.attrs)
	return t
}

// confirm checks that each cut of the tag at start is, to the tokenizer,
// the whole of a quoted value (the first of its attribute, which the
// tokenizer reports), and gives that attribute the page's bytes.
func (p *postParser) confirm(start int, cuts []cut, t tagRead) bool {
	if len(cuts) == 0 {
		return true
	}
	if !t.ok {
		return false
	}
	for _, c := range cuts {
		found := false
		for j, a := range p.attrs {
			r := p.raw[a.at]
			if start+r.Start == c.start && start+r.End == c.end && r.Quote != 0 {
				if string(a.val) != heldValue {
					return false
				}
				p.attrs[j].val = heldAttrValue(p.page[c.start:c.end])
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (p *postParser) get(key string) (attr, bool) {
	for _, a := range p.attrs {
		if string(a.key) == key {
			return a, true
		}
	}
	return attr{}, false
}

// samlName tells a name that an SP could read as one of the binding's
// fields, and whether it is spelled exactly so.
func samlName(name []byte) (canonical string, exact bool) {
	for _, n := range [...]string{nameResponse, nameRequest, nameRelay} {
		if len(name) >= len(n) && strings.EqualFold(string(name), n) {
			return n, string(name) == n
		}
	}
	return "", false
}

// namesSAML reports whether any occurrence of a name attribute in the
// current tag, the repeated ones included, names a binding field.
func (p *postParser) namesSAML(start int) bool {
	for _, a := range p.raw {
		if a.Key == "name" {
			if n, _ := samlName([]byte(html.UnescapeString(string(p.page[start+a.Start : start+a.End])))); n != "" {
				return true
			}
		}
	}
	return false
}

func (p *postParser) formTag(start, end int, t tagRead) {
	if p.template > 0 || p.open != nil {
		return // browsers create no form here
	}
	f := &form{start: start, end: end}
	switch {
	case !t.ok:
		f.flaw = "its <form> tag reads differently to this package and to the tokenizer"
	case t.repeated != "":
		f.flaw = "its <form> tag has the attribute " + t.repeated + " twice"
	}
	if a, ok := p.get("action"); ok {
		f.action = p.field("action", a, start)
	}
	if a, ok := p.get("method"); ok {
		f.method = strings.ToLower(string(a.val))
	}
	if a, ok := p.get("id"); ok {
		f.id = string(a.val)
	}
	p.forms = append(p.forms, f)
	p.open = f
}

// field builds the Field of attribute a of the tag at start.
func (p *postParser) field(name string, a attr, start int) *Field {
	f := &Field{Name: name, Value: string(a.val)}
	r := p.raw[a.at]
	f.Start, f.End = start+r.Start, start+r.End
	switch {
	case !r.HasEq:
		f.shape = bare
	case r.Quote == 0:
		f.shape = unquoted
	}
	return f
}

func (p *postParser) inputTag(start int, t tagRead) error {
	a, named := p.get("name")
	canonical, exact := samlName(a.val)
	if !t.ok || t.repeated != "" {
		if canonical != "" || p.namesSAML(start) {
			if !t.ok {
				return fmt.Errorf("%w: an <input> naming a SAML field at byte %d reads differently to the tokenizer", ErrAmbiguous, start)
			}
			return fmt.Errorf("%w: an <input> naming a SAML field at byte %d has the attribute %s twice", ErrAmbiguous, start, t.repeated)
		}
		return nil
	}
	if !named || canonical == "" {
		return nil
	}
	if !exact {
		return fmt.Errorf("%w: an <input> at byte %d is named %q: an SP reading names without regard to case takes it for %s", ErrAmbiguous, start, string(a.val), canonical)
	}
	if p.noscript > 0 {
		return fmt.Errorf("%w: %s at byte %d is inside <noscript>: posted only when scripts are off", ErrAmbiguous, canonical, start)
	}
	if p.template > 0 {
		return fmt.Errorf("%w: %s at byte %d is inside <template>", ErrAmbiguous, canonical, start)
	}
	if ty, ok := p.get("type"); ok {
		if lt := strings.ToLower(strings.TrimSpace(string(ty.val))); lt != "hidden" && lt != "text" && lt != "" {
			return fmt.Errorf("%w: %s at byte %d is an <input type=%q>", ErrAmbiguous, canonical, start, string(ty.val))
		}
	}
	if _, ok := p.get("disabled"); ok {
		return fmt.Errorf("%w: %s at byte %d is disabled: a browser does not post it", ErrAmbiguous, canonical, start)
	}
	in := &input{owner: p.open}
	if v, ok := p.get("value"); ok {
		in.field = *p.field(canonical, v, start)
	} else {
		in.field = Field{Name: canonical, Start: start + t.nameEnd, End: start + t.nameEnd, shape: missing}
	}
	if id, ok := p.get("form"); ok {
		in.owner, in.formID, in.byID = nil, string(id.val), true
	}
	p.inputs = append(p.inputs, in)
	return nil
}

// otherControl refuses a button, textarea or select named as a binding
// field: IdPs post hidden inputs, and these post differently.
func (p *postParser) otherControl(tag string, start int) error {
	a, _ := p.get("name")
	if n, _ := samlName(a.val); n != "" || p.namesSAML(start) {
		return fmt.Errorf("%w: a <%s> at byte %d is named as a SAML field", ErrAmbiguous, tag, start)
	}
	return nil
}

func (p *postParser) result() (*PostForm, error) {
	var messages []*input
	for _, in := range p.inputs {
		if in.byID {
			for _, f := range p.forms {
				if f.id == in.formID {
					if in.owner != nil {
						return nil, fmt.Errorf("%w: two forms have the id %q that %s names", ErrAmbiguous, in.formID, in.field.Name)
					}
					in.owner = f
				}
			}
		}
		if in.field.Name != nameRelay {
			messages = append(messages, in)
		}
	}
	switch len(messages) {
	case 0:
		return nil, fmt.Errorf("%w: no %s or %s field", ErrNoMessage, nameResponse, nameRequest)
	case 1:
	default:
		var where []string
		for _, m := range messages {
			w := "outside any form"
			if m.owner != nil {
				w = fmt.Sprintf("in the form at byte %d", m.owner.start)
			}
			where = append(where, fmt.Sprintf("%s at byte %d %s", m.field.Name, m.field.Start, w))
		}
		return nil, fmt.Errorf("%w: %d SAML messages: %s", ErrAmbiguous, len(messages), strings.Join(where, "; "))
	}
	m := messages[0]
	if m.owner == nil {
		// Where a form ends is the tree builder's to say, not the
		// tokenizer's: a </form> inside <select>, or inside <noscript>
		// while scripts run, leaves the browser's form open, and a script
		// can post any field. A message field in no form as read here may
		// well be posted: refused, never passed unread.
		return nil, fmt.Errorf("%w: %s at byte %d is in no form as the tokenizer reads it, and a browser may still post it", ErrAmbiguous, m.field.Name, m.field.Start)
	}
	f := m.owner
	if f.flaw != "" {
		return nil, fmt.Errorf("%w: the form posting %s: %s", ErrAmbiguous, m.field.Name, f.flaw)
	}
	out := &PostForm{Action: f.action, Method: f.method, Start: f.start, End: f.end, Message: m.field}
	for _, in := range p.inputs {
		if in.field.Name == nameRelay && in.owner == f {
			if out.RelayState != nil {
				return nil, fmt.Errorf("%w: the form posts RelayState twice (bytes %d and %d)", ErrAmbiguous, out.RelayState.Start, in.field.Start)
			}
			rs := in.field
			out.RelayState = &rs
		}
	}
	return out, nil
}
