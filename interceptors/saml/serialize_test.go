package saml

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
)

// etreeSerialize is what serialize writes, through etree's own writer.
func etreeSerialize(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	saved := doc.WriteSettings
	defer func() { doc.WriteSettings = saved }()
	doc.WriteSettings = canonicalSettings
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameAsEtree(t testing.TB, doc *etree.Document) {
	t.Helper()
	got, err := serialize(doc)
	if err != nil {
		t.Fatal(err)
	}
	if want := etreeSerialize(t, doc); !bytes.Equal(got, want) {
		t.Fatalf("serialize differs from etree:\n%q\n%q", got, want)
	}
}

// TestSerializeAsEtree: serialize writes etree's bytes with canonical
// settings for what IdPs send, for what hooks and idphooks put in
// (values with every character escaping treats apart, characters XML
// cannot hold, broken UTF-8), and for the rare tokens.
func TestSerializeAsEtree(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.xml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(data, 0)
		if err != nil {
			t.Fatal(f, err)
		}
		sameAsEtree(t, doc)
	}
	sameAsEtree(t, etree.NewDocument())
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0"`)
	root := doc.CreateElement("p:r")
	root.CreateAttr("xmlns:p", "urn:p")
	odd := "a&b<c>d\"e'f\tg\nh\ri\x01j\x7fk\u00e9\u20ac\U0001D11E\uFFFD\uFFFE" + string([]byte{0xff, 'z', 0xe2, 0x82})
	root.CreateAttr("v", odd)
	root.CreateAttr("empty", "")
	root.CreateText(odd)
	root.CreateElement("e")
	root.CreateComment(" c -- d -")
	root.CreateCData("x]]>y")
	root.CreateProcInst("pi", "a?>b")
	root.CreateElement("q:f").CreateText("")
	root.CreateText("\n")
	sameAsEtree(t, doc)
}
