package saml

import (
	"bytes"
	"fmt"

	"github.com/beevik/etree"

	"github.com/idphooks/idphooks/interceptors/saml/xmlread"
)

// DefaultMaxDepth bounds element nesting. A SAML Response is about eight
// levels deep; 256 leaves room for extensions and none for a stall.
const DefaultMaxDepth = 256

// Parse reads XML bytes into a document after a scan that refuses any
// markup declaration (DOCTYPE, ENTITY: no entity can be defined, so none
// is expanded) and nesting deeper than maxDepth (DefaultMaxDepth when 0),
// and then insists on exactly one root element with at most
// maxNamespacesInScope namespace declarations in scope anywhere.
func Parse(data []byte, maxDepth int) (*etree.Document, error) {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	// A byte order mark is no part of the document (XML 1.0 §4.3.3);
	// encoding/xml would keep it as text before the root, and metadata
	// saved on Windows often starts with one.
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if err := scan(data, maxDepth); err != nil {
		return nil, err
	}
	// xmlread reads what IdPs write about nine times faster than etree,
	// into the tree etree would build; what it does not read, etree does.
	doc, ok := xmlread.Read(data)
	if !ok {
		doc = etree.NewDocument()
		if err := doc.ReadFromBytes(data); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	roots := 0
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			roots++
		case *etree.CharData:
			// XML's white space only, as the reader flags it: a no-break
			// or ideographic space is text outside the root, which a
			// strict SP refuses.
			if !t.IsWhitespace() {
				return nil, fmt.Errorf("%w: text outside the root", ErrNotOneRoot)
			}
		case *etree.Directive:
			return nil, ErrDoctype
		}
	}
	if roots != 1 {
		return nil, fmt.Errorf("%w: %d root elements", ErrNotOneRoot, roots)
	}
	if err := checkNamespaceScope(doc.Root(), 0); err != nil {
		return nil, err
	}
	return doc, nil
}

// maxNamespacesInScope bounds the namespace declarations in scope at any
// element of a document Parse reads (a message by either binding, a
// decrypted assertion, metadata). goxmldsig copies the namespaces in scope at each
// element it canonicalizes, so a document declaring thousands of unused
// prefixes on its root (which no signature covers, exclusive C14N
// leaving them out) cost seconds and gigabytes before its digest was
// found wrong: 750 kB, 4.5 s, 1.7 GB. IdPs declare a handful.
const maxNamespacesInScope = 64

// checkNamespaceScope refuses, with ErrTooLarge, an element under which
// more than maxNamespacesInScope declarations are in scope; inScope is
// the count declared on el's ancestors.
func checkNamespaceScope(el *etree.Element, inScope int) error {
	for _, a := range el.Attr {
		if a.Space == "xmlns" || a.Space == "" && a.Key == "xmlns" {
			inScope++
		}
	}
	if inScope > maxNamespacesInScope {
		return fmt.Errorf("%w: %d namespace declarations in scope at <%s>, over %d", ErrTooLarge, inScope, el.Tag, maxNamespacesInScope)
	}
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok {
			if err := checkNamespaceScope(c, inScope); err != nil {
				return err
			}
		}
	}
	return nil
}

// scan walks the markup once, without building anything, so that a
// document that would be refused costs no parse; it is linear in the
// input, whatever the input.
func scan(b []byte, maxDepth int) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		if b[i] != '<' {
			continue
		}
		rest := b[i+1:]
		switch {
		case bytes.HasPrefix(rest, []byte("!--")):
			end := bytes.Index(rest[3:], []byte("-->"))
			if end < 0 {
				return fmt.Errorf("%w: unterminated comment", ErrMalformed)
			}
			i += 1 + 3 + end + 2
		case bytes.HasPrefix(rest, []byte("![CDATA[")):
			end := bytes.Index(rest[8:], []byte("]]>"))
			if end < 0 {
				return fmt.Errorf("%w: unterminated CDATA", ErrMalformed)
			}
			i += 1 + 8 + end + 2
		case bytes.HasPrefix(rest, []byte("!")):
			return ErrDoctype
		case bytes.HasPrefix(rest, []byte("?")):
			end := bytes.Index(rest[1:], []byte("?>"))
			if end < 0 {
				return fmt.Errorf("%w: unterminated processing instruction", ErrMalformed)
			}
			i += 1 + 1 + end + 1
		case bytes.HasPrefix(rest, []byte("/")):
			end := bytes.IndexByte(rest, '>')
			if end < 0 {
				return fmt.Errorf("%w: unterminated end tag", ErrMalformed)
			}
			depth--
			i += 1 + end
		default:
			end, selfClosing, ok := tagEnd(rest)
			if !ok {
				return fmt.Errorf("%w: unterminated tag", ErrMalformed)
			}
			if !selfClosing {
				depth++
				if depth > maxDepth {
					return fmt.Errorf("%w: over %d levels", ErrTooDeep, maxDepth)
				}
			}
			i += 1 + end
		}
	}
	return nil
}

// tagEnd finds the '>' closing a start tag, skipping quoted attribute
// values.
func tagEnd(b []byte) (end int, selfClosing, ok bool) {
	var quote byte
	for j, c := range b {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j, j > 0 && b[j-1] == '/', true
		}
	}
	return 0, false, false
}
