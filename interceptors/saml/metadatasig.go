package saml

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// MetadataTrust says how a metadata document, the upstream IdP's or an
// SP's, must be signed to be used.
type MetadataTrust struct {
	// Certificates, when not empty, are the only ones the document may be
	// signed with, and it must be signed: at its root (the EntityDescriptor,
	// or the EntitiesDescriptor holding the entity), with one Reference to
	// the root's ID. Empty: the document is used as fetched, signed or not
	// (its trust comes from idphooks' own fetch of it).
	Certificates []*x509.Certificate
	// Algorithms is the allow-list of signature and digest algorithms;
	// DefaultAlgorithms when nil.
	Algorithms []string
	// Now is the clock for validUntil and certificate validity; time.Now
	// when nil.
	Now func() time.Time
}

// ErrMetadataUnsigned: a metadata document that must be signed is not.
var ErrMetadataUnsigned = errors.New("saml: metadata is not signed")

// VerifyIdPMetadata checks an upstream metadata document against t and
// returns what is to be used of it: the document as it came but for its
// comments and processing instructions, which no signature covers. The
// signature is verified with goxmldsig on the root after the shapes that
// let the signed element and the one used differ are refused (the
// Signature elsewhere than the root's first child, a Reference to
// another ID, duplicate IDs), the way messages are; a validUntil past
// refuses it too (ErrExpired). Without certificates the document comes
// back as it is.
func (t MetadataTrust) VerifyIdPMetadata(raw []byte) ([]byte, error) {
	return t.verifyMetadata(raw, "idp_metadata_certificate", idpEntity)
}

// VerifySPMetadata is VerifyIdPMetadata for the metadata of the SP
// entityID (an sp block's metadata_certificate): the same signature, on
// the root holding the SP's EntityDescriptor, under the same rules.
func (t MetadataTrust) VerifySPMetadata(raw []byte, entityID string) ([]byte, error) {
	return t.verifyMetadata(raw, "metadata_certificate", func(root *etree.Element) (*etree.Element, error) {
		return spEntity(root, entityID)
	})
}

// verifyMetadata is VerifyIdPMetadata and VerifySPMetadata: entity finds
// the EntityDescriptor the document is used for, and option names the
// setting that asks for the signature.
func (t MetadataTrust) verifyMetadata(raw []byte, option string, entity func(root *etree.Element) (*etree.Element, error)) ([]byte, error) {
	if len(t.Certificates) == 0 {
		return raw, nil
	}
	doc, err := Parse(raw, 0)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if _, err := entity(root); err != nil {
		return nil, err
	}
	s := survey{ids: map[string]bool{}}
	if err := s.walk(root, 0); err != nil {
		return nil, err
	}
	if len(s.assertions)+len(s.encrypted) > 0 {
		return nil, fmt.Errorf("%w: metadata holds an assertion", ErrStructure)
	}
	var sig = child(root, NSDSig, "Signature")
	if sig == nil {
		return nil, fmt.Errorf("%w: its root <%s> carries no signature, and %s says it must", ErrMetadataUnsigned, root.Tag, option)
	}
	if kids := root.ChildElements(); kids[0] != sig {
		return nil, fmt.Errorf("%w: metadata Signature is not the first child of <%s>", ErrWrapping, root.Tag)
	}
	if root.SelectAttrValue("ID", "") == "" {
		return nil, fmt.Errorf("%w: signed metadata root without ID", ErrStructure)
	}
	for _, other := range s.signatures {
		// Signatures of entities inside a signed aggregate are covered by
		// its signature, and removed on publishing; a second one on the
		// root is not.
		if other != sig && other.Parent() == root {
			return nil, fmt.Errorf("%w: two Signatures on the metadata root", ErrWrapping)
		}
	}
	allowed := t.Algorithms
	if allowed == nil {
		allowed = DefaultAlgorithms()
	}
	if err := checkSignedInfo(sig, root, allowed); err != nil {
		return nil, err
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: t.Certificates})
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
		vctx.Clock = dsig.NewFakeClockAt(now)
	}
	if err := validate(vctx, root, "metadata"); err != nil {
		return nil, err
	}
	if vu := root.SelectAttrValue("validUntil", ""); vu != "" {
		until, err := parseTime(vu)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata validUntil %q", ErrMalformed, vu)
		}
		if !now.Before(until) {
			return nil, fmt.Errorf("%w: the signed metadata was valid until %s", ErrExpired, vu)
		}
	}
	stripUnsigned(root)
	return serialize(doc)
}
