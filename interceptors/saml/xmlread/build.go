package xmlread

import (
	"strings"

	"github.com/beevik/etree"
)

// builder makes the tree from blocks: etree's own constructors allocate
// each element, each text and each growth of every Attr and Child slice,
// about four allocations per element, which cost Read more than reading
// the bytes. Here elements and texts come from arrays made a block at a
// time, and each element's Attr and Child slices are cut, at their final
// length, from shared arrays once the element is complete (a slice's
// capacity ends with it, so an element that later gains a child or an
// attribute gets a new array from append and never writes into its
// neighbour's). Children are attached with AddChild and attributes with
// CreateAttr, which set the parents and indexes etree keeps unexported.
type builder struct {
	elems  []etree.Element
	texts  []etree.CharData
	tokens []etree.Token
	attrs  []etree.Attr
	// open are the elements not yet closed, the document's at the bottom.
	open []frame
	// pairs are the attributes of the start tag being read.
	pairs []pair
}

// frame is an open element: its name as written (prefix:local), to match
// the end tag, and the children it has so far.
type frame struct {
	el       *etree.Element
	name     string
	children []etree.Token
}

type pair struct{ key, value string }

// block is how many elements, texts, tokens or attributes one allocation
// makes room for once the first blocks are used up.
const block = 32

// newBuilder sizes the first blocks for doc from its markup: a tag, a
// comment or an instruction per '<' (an element has two, unless empty),
// a text beside each, an attribute per '=' (some are in values).
func newBuilder(doc *etree.Element, s string) *builder {
	lt, eq := strings.Count(s, "<"), strings.Count(s, "=")
	b := &builder{
		elems:  make([]etree.Element, lt/2+1),
		texts:  make([]etree.CharData, lt/2+1),
		tokens: make([]etree.Token, lt+1),
		attrs:  make([]etree.Attr, eq+1),
	}
	b.open = append(b.open, frame{el: doc})
	return b
}

// depth is the number of elements open (0: at the document's level).
func (b *builder) depth() int { return len(b.open) - 1 }

// top is the name of the innermost open element.
func (b *builder) topName() string { return b.open[len(b.open)-1].name }

func (b *builder) add(t etree.Token) {
	f := &b.open[len(b.open)-1]
	f.children = append(f.children, t)
}

// text adds text as etree's reader does: its own CharData, flagged as
// white space when it is (SetData sets the flag).
func (b *builder) text(s string) {
	if len(b.texts) == 0 {
		b.texts = make([]etree.CharData, block)
	}
	c := &b.texts[0]
	b.texts = b.texts[1:]
	c.SetData(s)
	b.add(c)
}

func (b *builder) comment(s string) { b.add(etree.NewComment(s)) }

func (b *builder) procInst(target, inst string) { b.add(etree.NewProcInst(target, inst)) }

// attr keeps one attribute of the start tag being read.
func (b *builder) attr(key, value string) { b.pairs = append(b.pairs, pair{key, value}) }

// element makes the element of the start tag just read, called name,
// with the attributes attr kept; it is open until close unless empty.
func (b *builder) element(name string, empty bool) {
	if len(b.elems) == 0 {
		b.elems = make([]etree.Element, block)
	}
	el := &b.elems[0]
	b.elems = b.elems[1:]
	el.Space, el.Tag = split(name)
	// Empty, not nil, as etree makes them (nothing is allocated).
	el.Attr, el.Child = []etree.Attr{}, []etree.Token{}
	if n := len(b.pairs); n > 0 {
		el.Attr = cut(&b.attrs, n)
		for _, p := range b.pairs {
			// A name given twice keeps its first place and its last
			// value, in CreateAttr as in etree's reader.
			el.CreateAttr(p.key, p.value)
		}
		b.pairs = b.pairs[:0]
	}
	if empty {
		b.add(el)
		return
	}
	// A frame left above by a sibling keeps its children's array.
	if len(b.open) < cap(b.open) {
		b.open = b.open[:len(b.open)+1]
		f := &b.open[len(b.open)-1]
		f.el, f.name, f.children = el, name, f.children[:0]
		return
	}
	b.open = append(b.open, frame{el: el, name: name})
}

// close ends the innermost open element and adds it to its parent.
func (b *builder) close() {
	f := &b.open[len(b.open)-1]
	attach(f.el, f.children, &b.tokens)
	el := f.el
	b.open = b.open[:len(b.open)-1]
	b.add(el)
}

// finish attaches the document's own children.
func (b *builder) finish() {
	f := &b.open[0]
	attach(f.el, f.children, &b.tokens)
}

func attach(el *etree.Element, children []etree.Token, tokens *[]etree.Token) {
	if len(children) == 0 {
		return
	}
	el.Child = cut(tokens, len(children))
	for _, c := range children {
		el.AddChild(c)
	}
}

// cut returns an empty slice with room for exactly n, from *from when it
// has that much room left, else from a new block.
func cut[T any](from *[]T, n int) []T {
	if len(*from) < n {
		*from = make([]T, max(n, block))
	}
	s := (*from)[:0:n]
	*from = (*from)[n:]
	return s
}

// split is etree's split of a name at its colon (name has at most one,
// never at either end).
func split(name string) (space, local string) {
	if space, local, ok := strings.Cut(name, ":"); ok {
		return space, local
	}
	return "", name
}
