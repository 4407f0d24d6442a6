package saml

import "github.com/beevik/etree"

// serialize writes a document idphooks signed (or that holds what it
// signed) the way a reader gets back the characters the digest covered.
// etree's default writes a CR, and a tab or line feed in an attribute
// value, raw; XML parsers turn a raw CR (and CRLF) into LF and those in
// attribute values into spaces, so a value with &#13; from the IdP or a
// hook's "\r" would fail idphooks' signature at the SP. The canonical
// escapes are C14N's: &#xD; in text, &#xD; &#x9; &#xA; in attribute
// values.
func serialize(doc *etree.Document) ([]byte, error) {
	doc.WriteSettings.CanonicalText = true
	doc.WriteSettings.CanonicalAttrVal = true
	doc.WriteSettings.AttrSingleQuote = false
	return doc.WriteToBytes()
}
