// Package xmlread reads the XML identity providers write into etree
// documents four to five times faster than etree's own reader (encoding/xml's
// RawToken under it), and into the very tree etree would build.
//
// goxmldsig verifies and signs etree trees, so every SAML message is read
// into one; with encoding/xml that reading alone cost about as much as
// the rest of idphooks' work on a response. This reader takes the subset
// of XML that IdPs write: names of ASCII letters, digits and ._- with at
// most one colon inside; text and attribute values of XML characters in
// UTF-8, with the five predefined entities and character references;
// comments, processing instructions, CDATA sections. Anything else — a
// DOCTYPE, an encoding other than UTF-8, an entity it does not know, a
// name beyond ASCII, a byte that is no XML character, a document that is
// not well formed — it does not read: Read reports false, and the caller
// reads the bytes with etree, whose answer (a tree or an error) is then
// the answer. So it never decides what is XML; it only agrees with etree
// sooner. FuzzReadAgreesWithEtree holds it to that: whenever Read returns
// a document, etree reads the same bytes into an identical tree (the same
// elements, prefixes, attributes in order, text split the same way, with
// the same flags, comments and processing instructions).
package xmlread

import (
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// maxDepth is below etree's own bound (1,024), which then never differs.
const maxDepth = 1000

// maxAttrs per element: etree's CreateAttr looks for a repeated name in
// those already there, which is quadratic in their number.
const maxAttrs = 64

// Read reads data into a document, or reports false when data lies
// outside the subset this package reads (see the package comment).
func Read(data []byte) (*etree.Document, bool) {
	if !characters(data) {
		return nil, false
	}
	r := reader{s: string(data)}
	doc := etree.NewDocument()
	if !r.read(&doc.Element) {
		return nil, false
	}
	return doc, true
}

// characters reports whether data is UTF-8 made of XML characters only
// (tab, line feed, carriage return, U+0020–U+D7FF, U+E000–U+FFFD,
// U+10000–U+10FFFF). encoding/xml refuses any other in text and
// attribute values; checking every byte once here leaves only the
// characters character references name to check.
func characters(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			if c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 || !IsChar(r) {
			return false
		}
		i += n
	}
	return true
}

// IsChar reports whether r is an XML character (XML 1.0's Char
// production).
func IsChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

type reader struct {
	s string // the document; names and plain values are slices of it
	i int
	// buf holds a value being decoded (one with an entity or a CR).
	buf []byte
	b   *builder
}

// read reads the whole document into doc; false: outside the subset.
func (r *reader) read(doc *etree.Element) bool {
	r.b = newBuilder(doc, r.s)
	b, s := r.b, r.s
	for r.i < len(s) {
		if s[r.i] != '<' {
			text, ok := r.text()
			if !ok {
				return false
			}
			b.text(text)
			continue
		}
		if r.i+1 >= len(s) {
			return false
		}
		switch s[r.i+1] {
		case '/':
			r.i += 2
			name, ok := r.name()
			if !ok || b.depth() == 0 || name != b.topName() {
				return false
			}
			r.space()
			if r.i >= len(s) || s[r.i] != '>' {
				return false
			}
			r.i++
			b.close()
		case '?':
			if !r.procInst() {
				return false
			}
		case '!':
			if !r.markup() {
				return false
			}
		default:
			r.i++
			name, empty, ok := r.startTag()
			if !ok || !empty && b.depth() >= maxDepth {
				return false
			}
			b.element(name, empty)
		}
	}
	if b.depth() != 0 {
		return false
	}
	b.finish()
	return true
}

func whitespace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// startTag reads the rest of a start tag from just past its '<', keeping
// its attributes in the builder.
func (r *reader) startTag() (name string, empty, ok bool) {
	s := r.s
	name, ok = r.name()
	if !ok {
		return "", false, false
	}
	for n := 0; ; n++ {
		r.space()
		if r.i >= len(s) {
			return "", false, false
		}
		switch s[r.i] {
		case '/':
			if r.i+1 >= len(s) || s[r.i+1] != '>' {
				return "", false, false
			}
			r.i += 2
			return name, true, true
		case '>':
			r.i++
			return name, false, true
		}
		key, ok := r.name()
		if !ok || n == maxAttrs {
			return "", false, false
		}
		r.space()
		if r.i >= len(s) || s[r.i] != '=' {
			return "", false, false
		}
		r.i++
		r.space()
		value, ok := r.attrValue()
		if !ok {
			return "", false, false
		}
		r.b.attr(key, value)
	}
}

// name reads an element or attribute name: an ASCII letter or '_', then
// letters, digits and ._- with at most one ':' not at the end. It ends
// where encoding/xml's does, at the first ASCII byte that cannot be in
// a name; a byte beyond ASCII there would go on the name and is outside
// the subset. etree splits it at the colon as encoding/xml does.
func (r *reader) name() (string, bool) {
	s, start := r.s, r.i
	if start >= len(s) || !nameStart(s[start]) {
		return "", false
	}
	i, colon := start+1, -1
	for ; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			if colon >= 0 {
				return "", false
			}
			colon = i
			continue
		}
		if !nameByte(c) {
			break
		}
	}
	if i < len(s) && s[i] >= utf8.RuneSelf || colon == i-1 {
		return "", false
	}
	r.i = i
	return s[start:i], true
}

func nameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func nameByte(c byte) bool {
	return nameStart(c) || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// space skips white space as encoding/xml does inside tags.
func (r *reader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// text reads character data up to the next '<' or the end.
func (r *reader) text() (string, bool) {
	s, start := r.s, r.i
	end := strings.IndexByte(s[start:], '<')
	if end < 0 {
		end = len(s)
	} else {
		end += start
	}
	r.i = end
	raw := s[start:end]
	// "]]>" is an error in text, for encoding/xml as for the XML spec.
	if strings.Contains(raw, "]]>") {
		return "", false
	}
	return r.decode(raw)
}

// attrValue reads a quoted attribute value from its opening quote.
func (r *reader) attrValue() (string, bool) {
	s := r.s
	if r.i >= len(s) || s[r.i] != '"' && s[r.i] != '\'' {
		return "", false
	}
	q := s[r.i]
	end := strings.IndexByte(s[r.i+1:], q)
	if end < 0 {
		return "", false
	}
	raw := s[r.i+1 : r.i+1+end]
	r.i += end + 2
	if strings.IndexByte(raw, '<') >= 0 {
		return "", false
	}
	return r.decode(raw)
}

// decode replaces the predefined entities and character references and
// turns CR LF and a lone CR into LF, as encoding/xml does in text and
// attribute values. Without either, raw is the value itself.
func (r *reader) decode(raw string) (string, bool) {
	if strings.IndexByte(raw, '&') < 0 && strings.IndexByte(raw, '\r') < 0 {
		return raw, true
	}
	b := r.buf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case '\r':
			b = append(b, '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '&':
			semi := strings.IndexByte(raw[i:], ';')
			if semi < 0 {
				return "", false
			}
			ch, ok := entity(raw[i+1 : i+semi])
			if !ok {
				return "", false
			}
			b = utf8.AppendRune(b, ch)
			i += semi
		default:
			b = append(b, c)
		}
	}
	r.buf = b
	return string(b), true
}

// entity is the character a reference names (what lies between '&' and
// ';'): one of the five predefined entities, or &#N; / &#xH; naming an
// XML character.
func entity(ref string) (rune, bool) {
	switch ref {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	digits, base := ref[1:], rune(10)
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if digits == "" {
		return 0, false
	}
	var n rune
	for i := 0; i < len(digits); i++ {
		d := hexDigit(digits[i])
		if d < 0 || d >= base {
			return 0, false
		}
		n = n*base + d
		if n > utf8.MaxRune {
			return 0, false
		}
	}
	// A surrogate is no character; encoding/xml would read U+FFFD.
	if !IsChar(n) {
		return 0, false
	}
	return n, true
}

func hexDigit(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10
	}
	return -1
}

// procInst reads a processing instruction from its "<?". The XML
// declaration is read only in the shapes IdPs write (version 1.0,
// encoding UTF-8 if any, standalone if any); any other passes to etree,
// which refuses versions other than 1.0 and reads every encoding as
// UTF-8.
func (r *reader) procInst() bool {
	s := r.s
	r.i += 2
	start := r.i
	for r.i < len(s) && (nameByte(s[r.i]) || s[r.i] == ':') {
		r.i++
	}
	target := s[start:r.i]
	if target == "" || !nameStart(target[0]) || r.i < len(s) && s[r.i] >= utf8.RuneSelf {
		return false
	}
	r.space()
	end := strings.Index(s[r.i:], "?>")
	if end < 0 {
		return false
	}
	inst := s[r.i : r.i+end]
	r.i += end + 2
	if target == "xml" && !xmlDecl(inst) {
		return false
	}
	r.b.procInst(target, inst)
	return true
}

// xmlDecl reports whether inst is version="1.0", then optionally
// encoding="UTF-8" (any case), then optionally standalone="yes" or "no",
// single spaces between, either quote, trailing white space allowed.
func xmlDecl(inst string) bool {
	rest, ok := pseudoAttr(inst, "version", func(v string) bool { return v == "1.0" })
	if !ok {
		return false
	}
	if r, ok := pseudoAttr(rest, " encoding", func(v string) bool { return strings.EqualFold(v, "utf-8") }); ok {
		rest = r
	}
	if r, ok := pseudoAttr(rest, " standalone", func(v string) bool { return v == "yes" || v == "no" }); ok {
		rest = r
	}
	return whitespace(rest)
}

func pseudoAttr(s, name string, valid func(string) bool) (rest string, ok bool) {
	s, found := strings.CutPrefix(s, name+"=")
	if !found || s == "" || s[0] != '"' && s[0] != '\'' {
		return "", false
	}
	end := strings.IndexByte(s[1:], s[0])
	if end < 0 || !valid(s[1:1+end]) {
		return "", false
	}
	return s[end+2:], true
}

// markup reads a comment or a CDATA section from its "<!"; anything else
// (a DOCTYPE) is outside the subset.
func (r *reader) markup() bool {
	s := r.s
	rest := s[r.i+2:]
	switch {
	case strings.HasPrefix(rest, "--"):
		// A comment ends at the first "--", which must close it.
		body := rest[2:]
		end := strings.Index(body, "--")
		if end < 0 || end+2 >= len(body) || body[end+2] != '>' {
			return false
		}
		r.b.comment(body[:end])
		r.i += 2 + 2 + end + 3
	case strings.HasPrefix(rest, "[CDATA["):
		body := rest[7:]
		end := strings.Index(body, "]]>")
		// An empty section is text etree may or may not keep, as
		// encoding/xml's buffer happens to be allocated or not.
		if end <= 0 {
			return false
		}
		// Without PreserveCData, etree keeps a CDATA section as its own
		// text, line ends turned as in any text.
		r.b.text(lineEnds(body[:end]))
		r.i += 2 + 7 + end + 3
	default:
		return false
	}
	return true
}

// lineEnds turns line ends as decode does; entities are not read in
// CDATA.
func lineEnds(raw string) string {
	if strings.IndexByte(raw, '\r') < 0 {
		return raw
	}
	return strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\r", "\n")
}
