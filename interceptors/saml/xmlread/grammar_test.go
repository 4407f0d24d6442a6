package xmlread

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestGrammar writes random documents the way an IdP (or an attacker
// shaping one) would, well formed by construction: declarations,
// prefixed names, repeated attributes, entities and character references,
// line ends of every kind, CDATA sections, comments and processing
// instructions at every level. A share of them is then cut, patched or
// spliced at random. Byte mutation rarely keeps a document well formed
// long enough to reach the deep cases; this does, and each document is
// held to the package's promise.
func TestGrammar(t *testing.T) {
	n := 60000
	// XMLREAD_GRAMMAR=5000000 searches longer, by hand.
	if s := os.Getenv("XMLREAD_GRAMMAR"); s != "" {
		fmt.Sscan(s, &n)
	}
	if testing.Short() {
		n = 6000
	}
	g := grammar{rng: rand.New(rand.NewPCG(17, 3))}
	read := 0
	for range n {
		doc := g.document()
		if g.rng.IntN(2) == 0 {
			doc = g.perturb(doc)
		}
		if agree(t, []byte(doc)) {
			read++
		}
	}
	t.Logf("%d of %d read", read, n)
}

type grammar struct {
	rng *rand.Rand
	b   strings.Builder
}

// pick returns one of the usual choices, or now and then (one in rare)
// one of the odd ones, which are mostly outside the subset or not XML.
func (g *grammar) pick(usual, odd []string, rare int) string {
	if len(odd) > 0 && g.rng.IntN(rare) == 0 {
		return odd[g.rng.IntN(len(odd))]
	}
	return usual[g.rng.IntN(len(usual))]
}

var (
	elementNames = []string{"a", "b", "p:a", "q:b", "saml:Assertion", "ds:Signature", "_x", "a.b-c", "p:-a", "a:1b", "A9"}
	oddNames     = []string{"a:", ":a", "a:b:c", "é", "aé", "1a", "-a", "xmlns:", "a\u00b7", "p:", ":", "a:é"}
	attrNames    = []string{"x", "y", "p:x", "q:x", "xmlns", "xmlns:p", "xmlns:q", "ID", "p:ID", "x"}
	textPieces   = []string{
		"x", "Hello", " ", "  ", "\n", "\r", "\r\n", "\n\r", "\t",
		"&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#65;", "&#x41;", "&#x4a;", "&#x4A;",
		"&#xD;", "&#13;", "&#10;", "&#9;", "&#x20;", "&#32;", "&#x10FFFF;", "&#0065;", "&#x00000041;",
		"]", "]]", ">", "'", "\"", "=", "/", "?", "-", "--", "é", "€", "𝄞", "\u007f", "\u0085",
	}
	oddText = []string{
		"&#xD800;", "&#xDFFF;", "&#0;", "&#x0;", "&#xFFFE;", "&#xFFFF;", "&#x110000;", "&#99999999999999999999;",
		"&nbsp;", "&", "&amp", "&#", "&#x", "&#;", "&#x;", "&#X41;", "&#65", "&lt ;", "& lt;", "&LT;",
		"]]>", "<", "\x00", "\x01", "\x0b", "\xff", "\xed\xa0\x80", "\xc0\x80", "\uFFFE", "\uFFFF", "\uFEFF", "\U0010FFFF",
	}
	cdataPieces = []string{"x", "<b>", "&amp;", "&", "<", "]", "]]", "]>", " ", "\r", "\r\n", "\n", "é", "<![CDATA[", "--"}
	oddCData    = []string{"]]>", "\x00", "\xff", "\uFFFE"}
	commentBits = []string{"x", " ", "-", "- ", "<", ">", "&", "&amp;", "\r", "\r\n", "é", "<!--", "]]>", "?>"}
	oddComment  = []string{"--", "-->", "\x00", "\xff", "\uFFFE", "\x01"}
	piTargets   = []string{"a", "xml-stylesheet", "XML", "xmlx", "p:q", "a:", "x.y"}
	oddTargets  = []string{"xml", "é", "1", ":a", "", "xml:a", "aé"}
	piBits      = []string{"x", " ", "?", ">", "<", "&", "&amp;", "'", "\"", "\r", "\r\n", "=", "é"}
	oddPI       = []string{"?>", "\x00", "\xff"}
	decls       = []string{
		`<?xml version="1.0"?>`, `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version='1.0' encoding='utf-8'?>`,
		`<?xml version="1.0" encoding="UTF-8" standalone="no"?>`, `<?xml version="1.0" standalone='yes' ?>`,
		"<?xml version=\"1.0\"\r\n?>", "<?xml\tversion=\"1.0\"?>",
	}
	oddDecls = []string{
		`<?xml?>`, `<?xml version="1.1"?>`, `<?xml version="1.0" encoding="ISO-8859-1"?>`, `<?xml version="1.0"encoding="UTF-8"?>`,
		`<?xml encoding="UTF-8"?>`, `<?xml version="1.0" encoding="UTF-8" version="1.1"?>`, `<?xml version="1.0" x="encoding='latin1'"?>`,
		`<?xml version="1.0"  encoding="UTF-8"?>`, `<?xml version="1.0" encoding="utf-16"?>`, `<?xml version="1.0" standalone="maybe"?>`,
		`<?xml version = "1.0"?>`, `<?xml version="1.0" encoding="UTF-8" standalone="no" x="1"?>`, `<?XML version="2"?>`,
		`<!DOCTYPE a>`, `<!DOCTYPE a [<!ENTITY e "x">]>`,
	}
	spaces    = []string{" ", " ", " ", "\t", "\n", "\r", "\r\n", "  "}
	oddSpaces = []string{"", "\u00a0", "\x0b", "\f"}
)

// document writes one document: a declaration sometimes, markup and
// white space around one root (or now and then none or two, or text).
func (g *grammar) document() string {
	g.b.Reset()
	if g.rng.IntN(3) == 0 {
		g.b.WriteString(g.pick(decls, oddDecls, 8))
	}
	for range g.rng.IntN(3) {
		g.misc()
	}
	roots := 1
	switch g.rng.IntN(30) {
	case 0:
		roots = 0
	case 1:
		roots = 2
	}
	for range roots {
		g.element(0)
		for range g.rng.IntN(3) {
			g.misc()
		}
	}
	if g.rng.IntN(30) == 0 {
		g.text()
	}
	return g.b.String()
}

// misc writes what may stand between elements at document level.
func (g *grammar) misc() {
	switch g.rng.IntN(4) {
	case 0:
		g.comment()
	case 1:
		g.procInst()
	default:
		g.b.WriteString(g.pick(spaces, oddSpaces, 10))
	}
}

func (g *grammar) element(depth int) {
	name := g.pick(elementNames, oddNames, 40)
	g.b.WriteString("<" + name)
	for range g.rng.IntN(5) {
		g.b.WriteString(g.pick(spaces, oddSpaces, 15))
		g.b.WriteString(g.pick(attrNames, oddNames, 40))
		if g.rng.IntN(6) == 0 {
			g.b.WriteString(g.pick(spaces, nil, 1))
		}
		g.b.WriteString("=")
		if g.rng.IntN(6) == 0 {
			g.b.WriteString(g.pick(spaces, nil, 1))
		}
		g.attrValue()
	}
	if g.rng.IntN(4) == 0 {
		g.b.WriteString(g.pick(spaces, nil, 1))
	}
	if depth > 5 || g.rng.IntN(4) == 0 {
		g.b.WriteString("/>")
		return
	}
	g.b.WriteString(">")
	for range g.rng.IntN(6) {
		switch g.rng.IntN(7) {
		case 0, 1:
			g.element(depth + 1)
		case 2:
			g.cdata()
		case 3:
			g.comment()
		case 4:
			g.procInst()
		default:
			g.text()
		}
	}
	end := name
	if g.rng.IntN(40) == 0 {
		end = g.pick(elementNames, oddNames, 4)
	}
	g.b.WriteString("</" + end)
	if g.rng.IntN(5) == 0 {
		g.b.WriteString(g.pick(spaces, nil, 1))
	}
	g.b.WriteString(">")
}

func (g *grammar) pieces(usual, odd []string, rare, most int) {
	for range g.rng.IntN(most) + 1 {
		g.b.WriteString(g.pick(usual, odd, rare))
	}
}

func (g *grammar) text() {
	g.pieces(textPieces, oddText, 60, 8)
}

func (g *grammar) attrValue() {
	q := `"`
	if g.rng.IntN(3) == 0 {
		q = `'`
	}
	g.b.WriteString(q)
	if g.rng.IntN(8) != 0 {
		for range g.rng.IntN(6) + 1 {
			p := g.pick(textPieces, oddText, 60)
			if p == q {
				p = map[string]string{`"`: "&quot;", `'`: "&apos;"}[q]
			}
			g.b.WriteString(p)
		}
	}
	g.b.WriteString(q)
}

func (g *grammar) cdata() {
	g.b.WriteString("<![CDATA[")
	if g.rng.IntN(30) != 0 {
		for range g.rng.IntN(6) + 1 {
			g.b.WriteString(g.pick(cdataPieces, oddCData, 40))
		}
	}
	g.b.WriteString("]]>")
}

func (g *grammar) comment() {
	g.b.WriteString("<!--")
	if g.rng.IntN(6) != 0 {
		for range g.rng.IntN(6) + 1 {
			g.b.WriteString(g.pick(commentBits, oddComment, 40))
		}
	}
	g.b.WriteString("-->")
}

func (g *grammar) procInst() {
	if g.rng.IntN(10) == 0 {
		g.b.WriteString(g.pick(decls, oddDecls, 3))
		return
	}
	g.b.WriteString("<?" + g.pick(piTargets, oddTargets, 20))
	if g.rng.IntN(3) != 0 {
		g.b.WriteString(g.pick(spaces, nil, 1))
		g.pieces(piBits, oddPI, 40, 5)
	}
	g.b.WriteString("?>")
}

// perturbations are spliced into a document at random places.
var perturbations = []string{
	"<", ">", "/", "&", ";", "#", "x", "]]>", "]]", "]", "\r", "\n", "\r\n", "--", "-", "?>", "<?", "<!", "<!--", "-->",
	"<![CDATA[", "'", "\"", "=", ":", " ", "&amp;", "&#xD800;", "&#13;", "é", "\xff", "\x00", "\uFEFF", "a", "</a>", "<a>", "/>",
}

// perturb cuts, patches or splices doc in one to three places.
func (g *grammar) perturb(doc string) string {
	for range g.rng.IntN(3) + 1 {
		if doc == "" {
			return perturbations[g.rng.IntN(len(perturbations))]
		}
		i := g.rng.IntN(len(doc) + 1)
		switch g.rng.IntN(4) {
		case 0: // insert
			doc = doc[:i] + perturbations[g.rng.IntN(len(perturbations))] + doc[i:]
		case 1: // delete a few bytes
			j := min(len(doc), i+1+g.rng.IntN(4))
			doc = doc[:i] + doc[j:]
		case 2: // replace a few bytes
			j := min(len(doc), i+1+g.rng.IntN(3))
			doc = doc[:i] + perturbations[g.rng.IntN(len(perturbations))] + doc[j:]
		default: // repeat a stretch
			j := min(len(doc), i+g.rng.IntN(20))
			doc = doc[:j] + doc[i:j] + doc[j:]
		}
	}
	return doc
}
