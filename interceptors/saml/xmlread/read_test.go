package xmlread

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// agree checks the package's promise on data: when Read returns a
// document, etree reads data into an identical tree. It returns whether
// Read read it.
func agree(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := Read(data)
	if !ok {
		return false
	}
	want := etree.NewDocument()
	if err := want.ReadFromBytes(data); err != nil {
		t.Fatalf("Read read what etree refuses (%v): %q", err, data)
	}
	if d := diff(&got.Element, &want.Element, "/"); d != "" {
		t.Fatalf("Read and etree differ at %s: %q", d, data)
	}
	// Whatever diff does not name (a flag, an index, a setting of the
	// document) must be equal too.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read and etree build documents that differ beyond their trees: %q", data)
	}
	return true
}

// diff describes the first difference between two trees, "" when there
// is none; where names the element.
func diff(a, b *etree.Element, where string) string {
	if a.Space != b.Space || a.Tag != b.Tag {
		return fmt.Sprintf("%s: element %s:%s against %s:%s", where, a.Space, a.Tag, b.Space, b.Tag)
	}
	where += a.FullTag()
	if len(a.Attr) != len(b.Attr) {
		return fmt.Sprintf("%s: %d attributes against %d", where, len(a.Attr), len(b.Attr))
	}
	for i := range a.Attr {
		x, y := a.Attr[i], b.Attr[i]
		if x.Space != y.Space || x.Key != y.Key || x.Value != y.Value || x.Element() != a || y.Element() != b {
			return fmt.Sprintf("%s: attribute %d %s:%s=%q against %s:%s=%q", where, i, x.Space, x.Key, x.Value, y.Space, y.Key, y.Value)
		}
	}
	if len(a.Child) != len(b.Child) {
		return fmt.Sprintf("%s: %d children against %d", where, len(a.Child), len(b.Child))
	}
	for i := range a.Child {
		x, y := a.Child[i], b.Child[i]
		if x.Parent() != a || y.Parent() != b || x.Index() != i || y.Index() != i {
			return fmt.Sprintf("%s: child %d misplaced", where, i)
		}
		switch x := x.(type) {
		case *etree.Element:
			y, ok := y.(*etree.Element)
			if !ok {
				return fmt.Sprintf("%s: child %d an element against %T", where, i, a.Child[i])
			}
			if d := diff(x, y, where+"/"); d != "" {
				return d
			}
		case *etree.CharData:
			y, ok := y.(*etree.CharData)
			if !ok || x.Data != y.Data || x.IsCData() != y.IsCData() || x.IsWhitespace() != y.IsWhitespace() {
				return fmt.Sprintf("%s: text %d %q against %#v", where, i, x.Data, b.Child[i])
			}
		case *etree.Comment:
			y, ok := y.(*etree.Comment)
			if !ok || x.Data != y.Data {
				return fmt.Sprintf("%s: comment %d %q against %#v", where, i, x.Data, b.Child[i])
			}
		case *etree.ProcInst:
			y, ok := y.(*etree.ProcInst)
			if !ok || x.Target != y.Target || x.Inst != y.Inst {
				return fmt.Sprintf("%s: instruction %d %q %q against %#v", where, i, x.Target, x.Inst, b.Child[i])
			}
		default:
			return fmt.Sprintf("%s: child %d of type %T", where, i, x)
		}
	}
	return ""
}

// TestReadsWhatIdPsWrite: the documents real IdPs wrote (Keycloak 26.7's
// and SimpleSAMLphp 1.19's, kept in the SAML tests' testdata) are read
// here, not passed to etree, and come out as etree reads them.
func TestReadsWhatIdPsWrite(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*/*.xml")
	if len(files) < 5 {
		t.Fatalf("%d documents in ../testdata", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !agree(t, data) {
			t.Errorf("%s: not read", f)
		}
		// The same with the line ends a Windows IdP writes.
		if !agree(t, []byte(strings.ReplaceAll(string(data), "\n", "\r\n"))) {
			t.Errorf("%s with CR LF: not read", f)
		}
	}
}

// shapes are documents at the edges of the subset; read says whether
// Read reads them (else it passes them to etree). Every one is also a
// fuzzing seed.
var shapes = []struct {
	doc  string
	read bool
}{
	{`<a/>`, true},
	{`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<a b="1"/>`, true},
	{`<?xml version='1.0' encoding='utf-8' standalone='no' ?><a/>`, true},
	{`<?xml version="1.1"?><a/>`, false},
	{`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, false},
	{`<?xml encoding="UTF-8" version="1.0"?><a/>`, false},
	{`<?xml-stylesheet href="x"?><a/>`, true},
	{`<?a??><a/>`, true},
	{`<?xml?><a/>`, false},
	{`<?9?><a/>`, false},
	{`<p:a xmlns:p="urn:x" p:b="1" c='2'><p:c>t</p:c></p:a>`, true},
	{`<a  b = "1"	c="2"/>`, true},
	{`<a b="1"c="2"/>`, true},
	{`<a b="1" b="2"/>`, true},
	{`<a b/>`, false},
	{`<a b=1/>`, false},
	{`<a b="<"/>`, false},
	{`<a b="&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#X43;"/>`, false},
	{`<a b="&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#x10FFFF;"/>`, true},
	{`<a>&#0;</a>`, false},
	{`<a>&#xD800;</a>`, false},
	{`<a>&#xFFFE;</a>`, false},
	{`<a>&#x110000;</a>`, false},
	{`<a>&#;</a>`, false},
	{`<a>&#x;</a>`, false},
	{`<a>&#13;&#9;&#xA;</a>`, true},
	{`<a>&nbsp;</a>`, false},
	{`<a>&amp</a>`, false},
	{`<a>&</a>`, false},
	{`<a>]]></a>`, false},
	{`<a>]]&gt;</a>`, true},
	{"<a b=\"x\r\ny\rz\">p\r\nq\r\r\ns\r</a>", true},
	{`<a><![CDATA[<b>&amp;]]></a>`, true},
	{"<a>x<![CDATA[\r\n]]>y</a>", true},
	{`<a><![CDATA[]]></a>`, false},
	{`<a><![CDATA[x</a>`, false},
	{`<a><![CDAT[x]]></a>`, false},
	{`<a><!-- c --><!----><!---x--></a>`, true},
	{`<a><!-- a -- b --></a>`, false},
	{`<a><!-- c ---></a>`, false},
	{`<a><!-></a>`, false},
	{`<!DOCTYPE a><a/>`, false},
	{`<a></b>`, false},
	{`<a></a >`, true},
	{`<a></a x>`, false},
	{`<p:a></q:a>`, false},
	{`<a:b:c/>`, false},
	{`<a:/>`, false},
	{`<:a/>`, false},
	{`<a :b="1"/>`, false},
	{`<a.b-c_d e.f-g="1"/>`, true},
	{`<a:1b/>`, true},
	{`<é/>`, false},
	{`<aé/>`, false},
	{`<a>é€𝄞</a>`, true},
	{"<a>\x01</a>", false},
	{"<a>\xff</a>", false},
	{"<a>\uFFFE</a>", false},
	{"\uFEFF<a/>", true},
	{`<a>`, false},
	{`<a/></a>`, false},
	{`</a>`, false},
	{`<`, false},
	{`text`, true},
	{``, true},
	{`<a/><b/>`, true},
	{` <a> x </a> `, true},
	{"<a>\n  <b/>\n</a>", true},
	// encoding/xml reads a surrogate's reference as U+FFFD; this does not.
	{`<a b="&#xD800;"/>`, false},
	{`<a>&#6a;</a>`, false},
	{`<a>&#0000065;&#x000041;&#x3C;</a>`, true},
	// A reference between the brackets hides "]]>" from encoding/xml too.
	{`<a>]&#93;></a>`, true},
	{`<a b="]]>" c='"' d="'"/>`, true},
	{`<a><![CDATA[]]]]></a>`, true},
	{`<![CDATA[x]]><a/>`, true},
	{`<![CDATA[]]><a/>`, false},
	{`<a><!--->--></a>`, true},
	{`<?a ??><?a:b:c?><a/>`, true},
	{`<a><?xml version="1.1"?></a>`, false},
	{"<?xml version=\"1.0\"\r\n?><a/><?xml version='1.0'?>", true},
	{`<?xml version="1.0"  encoding="UTF-8"?><a/>`, false},
	{`<?xml version="1.0" standalone="no" encoding="UTF-8"?><a/>`, false},
	{`<a:-b/>`, true},
	{`<a/ >`, false},
	// The end of the input in every state.
	{`<a b`, false},
	{`<a b=`, false},
	{`<a b="1`, false},
	{`<a b="1"`, false},
	{`<a/`, false},
	{`<a></a`, false},
	{`<a>&amp`, false},
	{`<a>]]`, false},
	{`<!`, false},
	{`<!-`, false},
	{`<!--x`, false},
	{`<!--x-`, false},
	{`<!--x--`, false},
	{`<?`, false},
	{`<?a`, false},
	{`<?a ?`, false},
	{`<![CDATA[x]]`, false},
	{`<![CDATA[x]`, false},
	{"<a/>\r", true},
	{"<a/>&#13;", true},
}

func TestShapes(t *testing.T) {
	for _, s := range shapes {
		if got := agree(t, []byte(s.doc)); got != s.read {
			t.Errorf("%q: read %v, want %v", s.doc, got, s.read)
		}
	}
}

// TestDeep: nesting past maxDepth passes to etree, whose bound is higher.
func TestDeep(t *testing.T) {
	doc := strings.Repeat("<a>", maxDepth) + strings.Repeat("</a>", maxDepth)
	if !agree(t, []byte(doc)) {
		t.Error("nesting of maxDepth not read")
	}
	doc = strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	if agree(t, []byte(doc)) {
		t.Error("nesting past maxDepth read")
	}
}

// TestManyAttributes: past maxAttrs on one element passes to etree, which
// finds repeated names through a map.
func TestManyAttributes(t *testing.T) {
	attrs := func(n int) []byte {
		var b strings.Builder
		// Every attribute written counts, a name given twice too: each
		// costs CreateAttr its look at those before it.
		b.WriteString(`<a`)
		for i := range n {
			fmt.Fprintf(&b, ` x%d="%d"`, i, i)
		}
		b.WriteString("/>")
		return []byte(b.String())
	}
	if !agree(t, attrs(maxAttrs)) {
		t.Error("maxAttrs attributes not read")
	}
	if agree(t, attrs(maxAttrs+1)) {
		t.Error("attributes past maxAttrs read")
	}
}

// FuzzReadAgreesWithEtree: whatever the bytes, Read either passes them
// to etree or reads the very tree etree reads.
func FuzzReadAgreesWithEtree(f *testing.F) {
	for _, s := range shapes {
		f.Add([]byte(s.doc))
	}
	files, _ := filepath.Glob("../testdata/*/*.xml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	// Documents TestGrammar writes, for mutation to start from deep
	// inside the subset.
	g := grammar{rng: rand.New(rand.NewPCG(5, 8))}
	for range 200 {
		f.Add([]byte(g.document()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree(t, data)
	})
}

func BenchmarkRead(b *testing.B) {
	data, err := os.ReadFile("../testdata/encrypted/keycloak-26.7-response-signed.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("xmlread", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := Read(data); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("etree", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := etree.NewDocument().ReadFromBytes(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPieces strings together pieces of markup at random, which finds the
// shapes byte-level fuzzing reaches slowly (a tag cut by a comment, an
// entity in a CDATA section, an end tag with a prefix), and holds each
// to the same promise.
func TestPieces(t *testing.T) {
	pieces := []string{
		"<a", "<p:a", "<b", "</a>", "</p:a>", "</b>", "/>", ">", " ", "\r", "\n", "\r\n", "\t",
		` x="1"`, ` p:x='2'`, ` xmlns:p="urn:p"`, `="`, `"`, `'`, "=",
		"&amp;", "&lt;", "&#65;", "&#x41;", "&#xD;", "&", ";", "#", "&#",
		"<!--", "--", "-->", "-", "<![CDATA[", "]]>", "]", "]]", "<?", "?>", "<?xml", ` version="1.0"`, "<?pi ",
		"<!DOCTYPE", "text", "é", "<", ":", "\x00",
	}
	rng := rand.New(rand.NewPCG(13, 1))
	n, read := 200000, 0
	// XMLREAD_PIECES=5000000 searches longer, by hand.
	if s := os.Getenv("XMLREAD_PIECES"); s != "" {
		fmt.Sscan(s, &n)
	}
	if testing.Short() {
		n = 20000
	}
	var b strings.Builder
	for range n {
		b.Reset()
		for range 1 + rng.IntN(24) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		if agree(t, []byte(b.String())) {
			read++
		}
	}
	t.Logf("%d of %d read", read, n)
}
