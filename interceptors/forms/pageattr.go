package forms

import (
	"bytes"

	xhtml "golang.org/x/net/html"
)

// Attr is the value of attribute name on the first element of the page
// that sel picks: what a profile asks of a page that is not its form's
// (which step an IdP shows after a success). It reads the page once
// more, so it is for answers that are rare, never for every login.
func (p *Page) Attr(sel Selector, name string) (string, bool) {
	t, ok := p.find(sel)
	if !ok {
		return "", false
	}
	v, ok := t.attr(name)
	return string(v), ok
}

// Has reports whether sel picks an element of the page.
func (p *Page) Has(sel Selector) bool {
	_, ok := p.find(sel)
	return ok
}

// find is the first start tag sel picks.
func (p *Page) find(sel Selector) (tagInfo, bool) {
	var t tagInfo
	if p == nil {
		return t, false
	}
	z := xhtml.NewTokenizer(bytes.NewReader(p.raw))
	pk := newPicker(sel, p.raw)
	offset := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			return t, false
		}
		// raw is the tokenizer's buffer: the tag found is copied.
		raw := z.Raw()
		n := len(raw)
		if (tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken) && pk.may(rawTagName(raw), offset, offset+n) {
			if t.read(bytes.Clone(raw)); t.is(sel) {
				return t, true
			}
		}
		offset += n
	}
}
