package interception

import "bytes"

// TagAttr is one attribute of a start tag as its bytes stand in the page.
// Every occurrence is kept: x/net/html's tokenizer keeps only the first of
// a repeated attribute, which hides a repetition callers may have to
// refuse (two SAMLResponse names on one input).
type TagAttr struct {
	Key        string // lower case, as the tokenizer folds it
	KeyEnd     int    // offset just past the key
	Start, End int    // the value's bytes, quotes excluded
	Quote      byte   // '"', '\'' or 0 when unquoted
	HasEq      bool   // false for a bare attribute such as <input disabled>
}

// TagAttrs reads a complete raw start tag ("<input ...>") step for step as
// x/net/html's readTag does, so that the spans it returns are those of the
// attributes the tokenizer reports (and of the repeats it drops). nameEnd
// is the offset just past the tag name. attrs is reused.
func TagAttrs(raw []byte, attrs []TagAttr) (nameEnd int, _ []TagAttr) {
	n := len(raw)
	isSpace := func(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' }
	skip := func(i int) int {
		for i < n && isSpace(raw[i]) {
			i++
		}
		return i
	}
	// The tag name: its first byte, right after '<', is always part of it.
	i := min(2, n)
	for nameEnd = -1; i < n; i++ {
		if c := raw[i]; isSpace(c) {
			nameEnd = i
			i++
			break
		} else if c == '/' || c == '>' {
			nameEnd = i
			break
		}
	}
	if nameEnd < 0 {
		return n, attrs
	}
	for i = skip(i); i < n && raw[i] != '>'; i = skip(i) {
		// The key runs to space, '/', '>' or a '=' that is not its first byte.
		ks := i
		for i < n {
			c := raw[i]
			if isSpace(c) || c == '/' || c == '>' || (c == '=' && i > ks) {
				break
			}
			i++
		}
		a := TagAttr{KeyEnd: i, Start: i, End: i}
		// The value.
		j := skip(i)
		switch {
		case j < n && raw[j] == '/':
			i = j + 1
		case j >= n || raw[j] != '=':
			i = j
		default:
			a.HasEq = true
			j = skip(j + 1)
			a.Start, a.End = j, j
			switch {
			case j >= n || raw[j] == '>':
				i = j
			case raw[j] == '"' || raw[j] == '\'':
				a.Quote = raw[j]
				a.Start = j + 1
				// A quoted value runs to its quote whatever is in it; it is
				// most of a POST binding page, so find the quote vectorised.
				if k := bytes.IndexByte(raw[j+1:], a.Quote); k >= 0 {
					i = j + 1 + k
				} else {
					i = n
				}
				a.End = i
				if i < n {
					i++
				}
			default:
				for i = j; i < n && !isSpace(raw[i]) && raw[i] != '>'; i++ {
				}
				a.End = i
			}
		}
		if a.KeyEnd > ks {
			a.Key = lowerASCII(raw[ks:a.KeyEnd])
			attrs = append(attrs, a)
		}
	}
	return nameEnd, attrs
}

// commonKeys are the attribute names of ordinary pages (a login page's,
// a POST binding page's): lowerASCII returns them without an allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"name", "value", "type", "id", "form", "action", "method", "class", "href", "rel",
		"role", "tabindex", "src", "style", "alt", "title", "lang", "for", "placeholder", "autocomplete", "autofocus",
		"disabled", "checked", "selected", "readonly", "required", "onclick", "onsubmit", "onload", "novalidate",
		"content", "charset", "http-equiv", "aria-label", "aria-invalid", "aria-live", "aria-hidden", "aria-describedby",
		"aria-expanded", "aria-controls", "aria-labelledby", "width", "height", "viewbox", "fill", "d", "xmlns",
		"crossorigin", "integrity", "defer", "async", "nonce", "dir", "target", "data-testid", "enctype", "accept-charset"} {
		m[k] = k
	}
	return m
}()

func lowerASCII(b []byte) string {
	// The keys callers look for come back without an allocation (a map
	// lookup with string(b) does not allocate).
	if k, ok := commonKeys[string(b)]; ok {
		return k
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			out := make([]byte, len(b))
			for i, c := range b {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				out[i] = c
			}
			return string(out)
		}
	}
	return string(b)
}
