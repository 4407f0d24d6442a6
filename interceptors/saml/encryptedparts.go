package saml

import (
	"errors"
	"fmt"

	"github.com/beevik/etree"
)

// An IdP may encrypt parts of a message rather than (or beside) the whole
// assertion: the Subject's NameID as an EncryptedID, a SubjectConfirmation's
// too (§2.4.1.1), attributes as EncryptedAttributes (saml-core §2.2.4,
// §2.7.3.2), the NameID of a LogoutRequest. They are opened once the message is verified (the
// signature covers their ciphertext), so that hooks and events read them
// as if they had come in clear, and sealed again to the SP's certificate
// when the message is signed: what came encrypted leaves encrypted. One
// idphooks cannot open (decryption off, encrypted to another certificate,
// a BaseID inside) goes as it came, under idphooks' signature; hooks do
// not see it, and the interceptor logs why.

// Sealed is a part of a verified message left encrypted, and why.
type Sealed struct {
	// Part is "NameID" (the Subject's or a LogoutRequest's),
	// "SubjectConfirmation NameID" or "Attribute".
	Part string
	// Reason says why it could not be opened.
	Reason string
}

// Sealed lists the parts of r that stay encrypted, unseen by hooks.
func (r *Response) Sealed() []Sealed {
	if r.parts == nil {
		return nil
	}
	return r.parts.sealed
}

// openedParts are the parts a verified message had encrypted, opened in
// its tree, to seal again before it is signed.
type openedParts struct {
	// opened holds the elements decrypted in place; a hook's replacement
	// of an opened attribute takes its place (see SetAttribute).
	opened map[*etree.Element]bool
	// sealed lists what stays encrypted.
	sealed []Sealed
}

// partOf is what an EncryptedID or EncryptedAttribute must hold.
func partOf(enc *etree.Element) string {
	if enc.Tag == "EncryptedAttribute" {
		return "Attribute"
	}
	return "NameID"
}

// labelOf names the part enc holds for the log: a SubjectConfirmation's
// identifier apart from the Subject's.
func labelOf(enc *etree.Element) string {
	if p := enc.Parent(); p != nil && is(p, NSAssertion, "SubjectConfirmation") {
		return "SubjectConfirmation NameID"
	}
	return partOf(enc)
}

// wrapperOf is the EncryptedElementType an opened element goes back in.
func wrapperOf(el *etree.Element) string {
	if el.Tag == "Attribute" {
		return "EncryptedAttribute"
	}
	return "EncryptedID"
}

// open decrypts the EncryptedIDs and EncryptedAttributes of a verified
// assertion (the Subject's identifier, each SubjectConfirmation's, and
// the AttributeStatements' attributes) or LogoutRequest (its identifier),
// in place, with v's keys. A ciphertext that unwraps with one of them and
// then fails (a GCM tag, CBC padding, not the element it must hold)
// refuses the message (ErrDecrypt); one no key of idphooks unwraps is
// left sealed. The whole document is then held to the rules of a clear
// one again.
//
// A SubjectConfirmation's identifier (saml-core §2.4.1.1: the confirming
// entity, when it is not the Subject) is no part of what hooks see or
// edit; it is opened only so that it can be sealed again to the SP: left
// as the IdP encrypted it to idphooks, the SP could not read it.
func (v *Verifier) open(root, holder *etree.Element) (*openedParts, error) {
	var encs, idHolders []*etree.Element
	if is(holder, NSAssertion, "Assertion") {
		if sub := child(holder, NSAssertion, "Subject"); sub != nil {
			idHolders = append(idHolders, sub)
			idHolders = append(idHolders, children(sub, NSAssertion, "SubjectConfirmation")...)
		}
	} else {
		idHolders = append(idHolders, holder)
	}
	for _, h := range idHolders {
		ids := 0
		for c := range elements(h) {
			if is(c, NSAssertion, "NameID") || is(c, NSAssertion, "BaseID") || is(c, NSAssertion, "EncryptedID") {
				ids++
			}
		}
		// Exactly one identifier, or none (saml-core §2.4.1, §2.4.1.1,
		// §3.7.1): two, once one is opened, would be read differently by
		// each reader.
		if ids > 1 {
			return nil, fmt.Errorf("%w: <%s> holds %d identifiers", ErrStructure, h.Tag, ids)
		}
		encs = append(encs, children(h, NSAssertion, "EncryptedID")...)
	}
	if is(holder, NSAssertion, "Assertion") {
		for _, st := range children(holder, NSAssertion, "AttributeStatement") {
			encs = append(encs, children(st, NSAssertion, "EncryptedAttribute")...)
		}
	}
	p := &openedParts{}
	if len(encs) == 0 {
		return p, nil
	}
	if len(v.DecryptionKeys) == 0 {
		for _, enc := range encs {
			p.sealed = append(p.sealed, Sealed{labelOf(enc), "decryption is not configured"})
		}
		return p, nil
	}
	// What the message held before: a decrypted part may add none of it.
	before := survey{ids: map[string]bool{}}
	if err := before.walk(root, 0); err != nil {
		return nil, err
	}
	for _, enc := range encs {
		want := partOf(enc)
		el, _, err := v.decryptElement(enc, depthOf(enc))
		if errors.Is(err, errNotOurs) {
			p.sealed = append(p.sealed, Sealed{labelOf(enc), "encrypted to a certificate idphooks holds no key of"})
			continue
		}
		if err != nil {
			return nil, err
		}
		if want == "NameID" && is(el, NSAssertion, "BaseID") {
			// No reader of event.saml knows a BaseID: it stays sealed.
			p.sealed = append(p.sealed, Sealed{labelOf(enc), "the EncryptedID holds a BaseID"})
			continue
		}
		if !is(el, NSAssertion, want) {
			return nil, fmt.Errorf("%w: %s holds <%s>, not a saml:%s declaring its namespace", ErrDecrypt, enc.Tag, el.Tag, want)
		}
		parent, i := enc.Parent(), enc.Index()
		parent.RemoveChildAt(i)
		parent.InsertChildAt(i, el)
		if p.opened == nil {
			p.opened = map[*etree.Element]bool{}
		}
		p.opened[el] = true
	}
	if len(p.opened) == 0 {
		return p, nil
	}
	// Parse bounded each plaintext alone; signing canonicalizes them with
	// the message.
	if err := checkNamespaceScope(root, 0); err != nil {
		return nil, fmt.Errorf("%w (once decrypted)", err)
	}
	all := survey{ids: map[string]bool{}}
	if err := all.walk(root, 0); err != nil {
		return nil, err
	}
	if len(all.assertions) != len(before.assertions) || len(all.encrypted) != len(before.encrypted) || len(all.signatures) != len(before.signatures) {
		return nil, fmt.Errorf("%w: a decrypted part holds an assertion or a signature", ErrWrapping)
	}
	for el := range p.opened {
		stripUnsigned(el)
	}
	return p, nil
}

// depthOf is how deep el lies below its document's root (the root: 0).
func depthOf(el *etree.Element) int {
	d := 0
	for p := el.Parent(); p != nil && p.Parent() != nil; p = p.Parent() {
		d++
	}
	return d
}

// replace puts new where old stands, opened in its place when old was.
func (p *openedParts) replace(old, new *etree.Element) {
	if p != nil && p.opened[old] {
		delete(p.opened, old)
		p.opened[new] = true
	}
}

// seal encrypts every opened part still in the tree to e, in place, and
// returns what puts them back (so that the message stays readable after
// it is written). With opened parts and no e, nothing is sent: they
// would reach the browser in clear.
func (p *openedParts) seal(e *Encryption) (restore func(), err error) {
	type swap struct{ parent, plain, sealed *etree.Element }
	var done []swap
	restore = func() {
		for k := len(done) - 1; k >= 0; k-- {
			s := done[k]
			i := s.sealed.Index()
			s.parent.RemoveChildAt(i)
			s.parent.InsertChildAt(i, s.plain)
		}
	}
	if p == nil {
		return restore, nil
	}
	for el := range p.opened {
		parent := el.Parent()
		if parent == nil {
			continue // removed by a hook
		}
		if e == nil {
			restore()
			return func() {}, fmt.Errorf("saml: the %s came encrypted and there is no certificate to encrypt it to", el.Tag)
		}
		enc, err := encryptElement(el, e, wrapperOf(el))
		if err != nil {
			restore()
			return func() {}, err
		}
		i := el.Index()
		parent.RemoveChildAt(i)
		parent.InsertChildAt(i, enc)
		done = append(done, swap{parent, el, enc})
	}
	return restore, nil
}

// pending reports whether opened parts are still in the tree: they must
// be sealed to the SP.
func (p *openedParts) pending() bool {
	if p == nil {
		return false
	}
	for el := range p.opened {
		if el.Parent() != nil {
			return true
		}
	}
	return false
}
