package binding

import (
	"bytes"
	"io"
)

// The tokenizer reads a page one byte at a time, and most of a POST
// binding page is the message's base64 in one quoted attribute value. So
// long quoted values are held back: the tokenizer reads the page with each
// one's interior replaced by heldValue, and the page's bytes are put back
// once the tokenizer has read that heldValue as the whole value of an
// attribute of a start tag (the first of its name, which it reports, with
// TagAttrs' span for it exactly the held bytes).
//
// That reading is the page's. The tokenizer decides nothing from a byte it
// has not reached, reaches an attribute's opening quote having read no
// byte past it (tags are read without look-ahead), and ends a quoted value
// at the first matching quote whatever lies before it (HTML §13.2.5.36-37;
// x/net/html's readTagAttrVal). Up to the opening quote the two pages are
// the same bytes, from the closing quote on too. A held value holds no
// quote of its kind, no '&' and no NUL, so what the tokenizer would give
// for it (NULs replaced, newlines converted, entities decoded) is its bytes
// with newlines converted (heldAttrValue). A candidate the tokenizer reads
// otherwise (in a comment, a script, a <style>, an unquoted value, an end
// tag) is dropped and the page read again: the tokenizer, not this file,
// says what a value is.

// minHeld is the shortest value held back: shorter ones cost the
// tokenizer less than a second reading would if one turned out not to be
// a value.
const minHeld = 512

// maxDropped is how many candidates may turn out not to be values before
// the page is read whole: a page cannot make ParsePost read it more than
// maxDropped+2 times.
const maxDropped = 2

// heldValue stands for a held-back value in what the tokenizer reads.
const heldValue = "held"

var heldBytes = []byte(heldValue)

// cut is a held-back value's interior: page[start:end], quotes excluded.
type cut struct{ start, end int }

// holdBack finds the quoted values worth holding back: at least min bytes
// between two quotes of a kind, an '=' before the first (white space
// allowed, as in a tag), no '&' or NUL between them. It is a guess,
// cheap and vectorised; the tokenizer confirms or refuses each one.
func holdBack(page []byte, min int) []cut {
	var cuts []cut
	// Such a run covers a whole aligned block of min/2 bytes: only a block
	// without the quote needs a look around it.
	block := max(1, min/2)
	for _, q := range [...]byte{'"', '\''} {
		for b := 0; b+block <= len(page); b += block {
			if bytes.IndexByte(page[b:b+block], q) >= 0 {
				continue
			}
			i := bytes.LastIndexByte(page[:b], q)
			j := bytes.IndexByte(page[b+block:], q)
			if j < 0 {
				break // no quote closes a run from here on
			}
			j += b + block
			if v := page[i+1 : j]; i >= 0 && len(v) >= min && afterEquals(page, i) &&
				bytes.IndexByte(v, '&') < 0 && bytes.IndexByte(v, 0) < 0 {
				cuts = insertCut(cuts, cut{i + 1, j})
			}
			// The next block without the quote lies past this run.
			b = j / block * block
		}
	}
	return cuts
}

// afterEquals reports whether the quote at page[i] follows an '=', with
// only HTML white space between them.
func afterEquals(page []byte, i int) bool {
	for i--; i >= 0; i-- {
		switch page[i] {
		case ' ', '\n', '\r', '\t', '\f':
		case '=':
			return true
		default:
			return false
		}
	}
	return false
}

// insertCut adds c to cuts, kept in page order, unless it overlaps one
// there (a value in one kind of quote seen inside one in the other).
func insertCut(cuts []cut, c cut) []cut {
	k := len(cuts)
	for k > 0 && cuts[k-1].start > c.start {
		k--
	}
	if (k > 0 && cuts[k-1].end >= c.start-1) || (k < len(cuts) && c.end >= cuts[k].start-1) {
		return cuts
	}
	cuts = append(cuts, cut{})
	copy(cuts[k+1:], cuts[k:])
	cuts[k] = c
	return cuts
}

// heldReader reads page with every cut's bytes replaced by heldValue.
type heldReader struct {
	parts [][]byte
}

func newHeldReader(page []byte, cuts []cut) *heldReader {
	r := &heldReader{parts: make([][]byte, 0, 2*len(cuts)+1)}
	at := 0
	for _, c := range cuts {
		r.parts = append(r.parts, page[at:c.start], heldBytes)
		at = c.end
	}
	r.parts = append(r.parts, page[at:])
	return r
}

func (r *heldReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) && len(r.parts) > 0 {
		c := copy(b[n:], r.parts[0])
		n += c
		if r.parts[0] = r.parts[0][c:]; len(r.parts[0]) == 0 {
			r.parts = r.parts[1:]
		}
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// notHeld is scan's report that the tokenizer did not read cut i as a
// whole quoted value.
type notHeld struct{ i int }

func (e *notHeld) Error() string { return "binding: a held-back value is not one" }

// heldAttrValue is the value the tokenizer gives for the held-back bytes
// v: v itself, or a copy with its newlines converted as x/net/html's
// convertNewlines does to an attribute value (HTML §13.2.3.5).
func heldAttrValue(v []byte) []byte {
	i := bytes.IndexByte(v, '\r')
	if i < 0 {
		return v
	}
	out := make([]byte, i, len(v))
	copy(out, v[:i])
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c != '\r':
			out = append(out, c)
		case i+1 < len(v) && v[i+1] == '\n':
			// CR LF: the LF comes next.
		default:
			out = append(out, '\n')
		}
	}
	return out
}
