package saml

import (
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/idphooks/idphooks/interceptors/saml/xmlread"
)

// serialize writes a document idphooks signed (or that holds what it
// signed) the way a reader gets back the characters the digest covered.
// etree's default writes a CR, and a tab or line feed in an attribute
// value, raw; XML parsers turn a raw CR (and CRLF) into LF and those in
// attribute values into spaces, so a value with &#13; from the IdP or a
// hook's "\r" would fail idphooks' signature at the SP. The canonical
// escapes are C14N's: &#xD; in text, &#xD; &#x9; &#xA; in attribute
// values.
//
// The bytes are etree's with canonicalSettings, byte for byte
// (TestSerializeAsEtree, and FuzzParse on every document it reads);
// elements, attributes and text are written here rather than through
// etree's writer, which decoded every character through a buffered
// writer and took 18 µs of a response's 150 µs budget. The rare tokens
// (comments, instructions, CDATA sections) are etree's own.
func serialize(doc *etree.Document) ([]byte, error) {
	w := &xmlWriter{b: make([]byte, 0, 8<<10)}
	for _, t := range doc.Child {
		w.token(t)
	}
	return w.b, nil
}

var canonicalSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}

type xmlWriter struct{ b []byte }

// The etree.Writer the rare tokens write to.
func (w *xmlWriter) Write(p []byte) (int, error)       { w.b = append(w.b, p...); return len(p), nil }
func (w *xmlWriter) WriteString(s string) (int, error) { w.b = append(w.b, s...); return len(s), nil }
func (w *xmlWriter) WriteByte(c byte) error            { w.b = append(w.b, c); return nil }

func (w *xmlWriter) token(t etree.Token) {
	switch t := t.(type) {
	case *etree.Element:
		w.element(t)
	case *etree.CharData:
		if t.IsCData() {
			t.WriteTo(w, &canonicalSettings)
			return
		}
		w.escape(t.Data, false)
	default:
		t.WriteTo(w, &canonicalSettings)
	}
}

func (w *xmlWriter) element(e *etree.Element) {
	w.b = append(w.b, '<')
	w.name(e.Space, e.Tag)
	for _, a := range e.Attr {
		w.b = append(w.b, ' ')
		w.name(a.Space, a.Key)
		w.b = append(w.b, '=', '"')
		w.escape(a.Value, true)
		w.b = append(w.b, '"')
	}
	if len(e.Child) == 0 {
		w.b = append(w.b, '/', '>')
		return
	}
	w.b = append(w.b, '>')
	for _, c := range e.Child {
		w.token(c)
	}
	w.b = append(w.b, '<', '/')
	w.name(e.Space, e.Tag)
	w.b = append(w.b, '>')
}

func (w *xmlWriter) name(space, local string) {
	if space != "" {
		w.b = append(w.b, space...)
		w.b = append(w.b, ':')
	}
	w.b = append(w.b, local...)
}

// escape writes s escaped as etree's canonical text (attr false) or
// canonical attribute values (attr true): & and < always; > in text; "
// and tab, line feed in attribute values; CR in both; any character XML
// cannot hold (and any byte that is not UTF-8) as U+FFFD.
func (w *xmlWriter) escape(s string, attr bool) {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		switch {
		case c >= 0x20 && c < utf8.RuneSelf && c != '&' && c != '<' && c != '>' && c != '"':
			i++
			continue
		case c == '&':
			esc = "&amp;"
		case c == '<':
			esc = "&lt;"
		case c == '>':
			if attr {
				i++
				continue
			}
			esc = "&gt;"
		case c == '"':
			if !attr {
				i++
				continue
			}
			esc = "&quot;"
		case c == '\t':
			if !attr {
				i++
				continue
			}
			esc = "&#x9;"
		case c == '\n':
			if !attr {
				i++
				continue
			}
			esc = "&#xA;"
		case c == '\r':
			esc = "&#xD;"
		case c < 0x20:
			esc = "\uFFFD"
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			width = n
			if r == utf8.RuneError && n == 1 || !xmlread.IsChar(r) {
				esc = "\uFFFD"
				break
			}
			i += n
			continue
		}
		w.b = append(w.b, s[last:i]...)
		w.b = append(w.b, esc...)
		i += width
		last = i
	}
	w.b = append(w.b, s[last:]...)
}
