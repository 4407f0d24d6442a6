package saml

import (
	"fmt"
	"slices"

	"github.com/beevik/etree"
)

// The kinds of logout message, the local names of their roots.
const (
	KindLogoutRequest  = "LogoutRequest"
	KindLogoutResponse = "LogoutResponse"
)

// Logout is a verified LogoutRequest or LogoutResponse. When the IdP
// XML-signed it, it holds only the element goxmldsig returned; when only
// the Redirect binding's query was signed (and checked by the caller), the
// message as it came, which is what that signature covers. It is not safe
// for concurrent use.
type Logout struct {
	// Kind is KindLogoutRequest or KindLogoutResponse.
	Kind string

	doc  *etree.Document
	root *etree.Element

	xmlSigned, querySigned bool

	// prefixList: as Response's, for an xsi:type in Extensions.
	prefixList []string

	// parts holds a LogoutRequest's EncryptedID, opened; SignLogout seals
	// it again to EncryptTo.
	parts *openedParts
	// EncryptTo is the SP's encryption certificate, for a NameID that came
	// encrypted.
	EncryptTo *Encryption
}

// LogoutModel is what hooks and events see of a logout message. Values
// are read from the verified element; the fields of the other kind stay
// empty.
type LogoutModel struct {
	Kind        string `json:"kind"`
	ID          string `json:"id"`
	Issuer      string `json:"issuer"`
	Destination string `json:"destination,omitempty"`
	// InResponseTo is the LogoutResponse's: the ID of the request it
	// answers.
	InResponseTo string `json:"in_response_to,omitempty"`
	// NameID is the LogoutRequest's principal, an EncryptedID's once
	// opened; nil when it names it otherwise (an EncryptedID idphooks
	// cannot open, a BaseID).
	NameID *NameID `json:"name_id,omitempty"`
	// SessionIndexes are the LogoutRequest's, in document order.
	SessionIndexes []string `json:"session_indexes,omitempty"`
	// Status is the LogoutResponse's.
	Status *Status `json:"status,omitempty"`
	// Signed is "xml" when the IdP signed the XML, "query" when only the
	// Redirect query was signed.
	Signed string `json:"signed"`
	// NotOnOrAfter is the LogoutRequest's, as written, when it has one.
	NotOnOrAfter string `json:"not_on_or_after,omitempty"`
}

// VerifyLogout parses a LogoutRequest or LogoutResponse and refuses the
// wrapping shapes Verify refuses. A message carrying an XML signature is
// verified against v.Certificates and only what the validator returned is
// kept, whether or not the query was signed too. One carrying none is
// accepted when querySigned says the caller has verified its HTTP-Redirect
// query signature (binding.Redirect.Verify); otherwise it is ErrUnsigned.
func (v *Verifier) VerifyLogout(data []byte, querySigned bool) (*Logout, error) {
	doc, err := Parse(data, v.MaxDepth)
	if err != nil {
		return nil, err
	}
	return v.VerifyLogoutDocument(doc, querySigned)
}

// VerifyLogoutDocument is VerifyLogout on a document read with Parse.
// Verifying does not change the document; the Logout holds it when only
// the query was signed, and a new one holding the verified root when the
// XML was.
func (v *Verifier) VerifyLogoutDocument(doc *etree.Document, querySigned bool) (*Logout, error) {
	root := doc.Root()
	if root == nil || !is(root, NSProtocol, KindLogoutRequest) && !is(root, NSProtocol, KindLogoutResponse) {
		return nil, fmt.Errorf("%w: root is not a samlp:LogoutRequest or samlp:LogoutResponse", ErrStructure)
	}
	s := survey{ids: map[string]bool{}}
	if err := s.walk(root, 0); err != nil {
		return nil, err
	}
	// No assertion belongs in a logout message; one there is at best a
	// decoy for readers that look for the first Assertion anywhere.
	if n := len(s.assertions) + len(s.encrypted); n > 0 {
		return nil, fmt.Errorf("%w: %s holds an assertion", ErrStructure, root.Tag)
	}
	if root.SelectAttrValue("ID", "") == "" {
		return nil, fmt.Errorf("%w: %s without ID", ErrStructure, root.Tag)
	}
	var sig *etree.Element
	for _, c := range s.signatures {
		if p := c.Parent(); p != root {
			return nil, fmt.Errorf("%w: Signature inside <%s>", ErrWrapping, p.Tag)
		}
	}
	switch len(s.signatures) {
	case 0:
	case 1:
		sig = s.signatures[0]
	default:
		return nil, fmt.Errorf("%w: %d Signatures on the %s", ErrWrapping, len(s.signatures), root.Tag)
	}

	l := &Logout{Kind: root.Tag, querySigned: querySigned}
	if sig == nil {
		if !querySigned {
			return nil, fmt.Errorf("%w: %s with neither an XML nor a query signature", ErrUnsigned, root.Tag)
		}
		// The query signature covers these very bytes: nothing was
		// canonicalized, so nothing needs repairing.
		l.doc, l.root = doc, root
		if err := l.open(v); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err := checkSignature(sig, root, v.allowed()); err != nil {
		return nil, err
	}
	got, err := validated(v.validationContext(), root, root.Tag)
	if err != nil {
		return nil, err
	}
	vdoc := etree.NewDocument()
	vdoc.SetRoot(got)
	l.doc, l.root, l.xmlSigned = vdoc, got, true
	if l.prefixList, err = typePrefixes(got, s.typeNS); err != nil {
		return nil, err
	}
	if err := l.open(v); err != nil {
		return nil, err
	}
	return l, nil
}

// open opens a LogoutRequest's EncryptedID (see Verifier.open).
func (l *Logout) open(v *Verifier) error {
	if l.Kind != KindLogoutRequest {
		return nil
	}
	p, err := v.open(l.root, l.root)
	l.parts = p
	return err
}

// Sealed lists the parts of l that stay encrypted, unseen by events.
func (l *Logout) Sealed() []Sealed {
	if l.parts == nil {
		return nil
	}
	return l.parts.sealed
}

// NameIDOpened reports whether the NameID came encrypted and was opened:
// it must be sealed to the SP (EncryptTo) before SignLogout sends it.
func (l *Logout) NameIDOpened() bool { return l.parts.pending() }

// XMLSigned reports whether the IdP XML-signed the message: SignLogout
// then signs the XML anew. When it is false, only the query was signed,
// and the caller signs the outgoing query (binding.SignRedirect).
func (l *Logout) XMLSigned() bool { return l.xmlSigned }

// Model extracts the hook's view of the message.
func (l *Logout) Model() LogoutModel {
	r := l.root
	m := LogoutModel{
		Kind:        l.Kind,
		ID:          r.SelectAttrValue("ID", ""),
		Destination: r.SelectAttrValue("Destination", ""),
	}
	switch {
	case l.xmlSigned:
		m.Signed = "xml"
	case l.querySigned:
		m.Signed = "query"
	}
	if is := child(r, NSAssertion, "Issuer"); is != nil {
		m.Issuer = text(is)
	}
	switch l.Kind {
	case KindLogoutRequest:
		if n := child(r, NSAssertion, "NameID"); n != nil {
			id := nameIDOf(n)
			m.NameID = &id
		}
		for _, si := range children(r, NSProtocol, "SessionIndex") {
			m.SessionIndexes = append(m.SessionIndexes, text(si))
		}
		m.NotOnOrAfter = r.SelectAttrValue("NotOnOrAfter", "")
	case KindLogoutResponse:
		m.InResponseTo = r.SelectAttrValue("InResponseTo", "")
		st := statusOf(r)
		m.Status = &st
	}
	return m
}

// Map is the model as plain data for the sandbox, with the JSON names;
// like the JSON, it leaves out what the message does not have.
func (m LogoutModel) Map() map[string]any {
	out := map[string]any{
		"kind":        m.Kind,
		"id":          m.ID,
		"issuer":      m.Issuer,
		"destination": m.Destination,
		"signed":      m.Signed,
	}
	if m.InResponseTo != "" {
		out["in_response_to"] = m.InResponseTo
	}
	if m.NameID != nil {
		out["name_id"] = map[string]any{"value": m.NameID.Value, "format": m.NameID.Format, "name_qualifier": m.NameID.NameQualifier, "sp_name_qualifier": m.NameID.SPNameQualifier}
	}
	if m.SessionIndexes != nil {
		out["session_indexes"] = anySlice(m.SessionIndexes)
	}
	if m.Status != nil {
		out["status"] = map[string]any{"code": m.Status.Code, "sub_code": m.Status.SubCode, "message": m.Status.Message}
	}
	if m.NotOnOrAfter != "" {
		out["not_on_or_after"] = m.NotOnOrAfter
	}
	return out
}

// SignLogout removes every upstream signature and, when the IdP had
// XML-signed the message, signs its root with idphooks' key as Sign signs
// a Response (enveloped, exclusive C14N, one Reference, right after the
// Issuer), then serializes it. A message only the query signed comes back
// without an XML signature, as the Redirect binding wants it; the caller
// signs the query.
func (s *Signer) SignLogout(l *Logout) ([]byte, error) {
	if l.xmlSigned {
		// Checked before anything changes, so that a failed call leaves
		// l as it was.
		if _, _, err := s.method(); err != nil {
			return nil, err
		}
	}
	stripSignatures(l.root)
	restore, err := l.parts.seal(l.EncryptTo)
	if err != nil {
		return nil, err
	}
	defer restore()
	if l.xmlSigned {
		if err := s.signElement(l.root, l.prefixList); err != nil {
			return nil, err
		}
	}
	return serialize(l.doc)
}

// SetNameID gives a LogoutRequest the NameID the SP knows the person by,
// when a hook changed it at login (the IdP still names its own); the
// qualifiers follow. Sign or SignLogout must follow.
func (l *Logout) SetNameID(n NameID) error {
	el := child(l.root, NSAssertion, "NameID")
	if l.Kind != KindLogoutRequest || el == nil {
		return fmt.Errorf("%w: not a LogoutRequest with a NameID", ErrStructure)
	}
	for _, c := range slices.Clone(el.Child) {
		el.RemoveChild(c)
	}
	el.SetText(n.Value)
	for _, a := range []struct{ key, v string }{
		{"Format", n.Format}, {"NameQualifier", n.NameQualifier}, {"SPNameQualifier", n.SPNameQualifier},
	} {
		if a.v == "" {
			el.RemoveAttr(a.key)
		} else {
			el.CreateAttr(a.key, a.v)
		}
	}
	return nil
}
