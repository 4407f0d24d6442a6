package saml

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// MetadataTrust says how a metadata document, the upstream IdP's or an
// SP's, must be signed to be used.
type MetadataTrust struct {
	// Certificates, when not empty, are the only ones the document may be
	// signed with, and it must be signed: at its root (the EntityDescriptor,
	// or the EntitiesDescriptor holding the entity), with one Reference to
	// the root's ID, or, in an aggregate whose root is unsigned, on the
	// entity's EntityDescriptor (then used alone). Empty: the document is
	// used as fetched, signed or not (its trust comes from idphooks' own
	// fetch of it).
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
// comments and processing instructions, which no signature covers (or,
// signed on the entity only, that EntityDescriptor alone). The
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
//
// The signature is the root's. An aggregate (EntitiesDescriptor) whose
// root is unsigned may instead carry it on the entity used, as some
// federations publish per-entity signed documents: the entity's
// signature is then held to the same rules, and only that
// EntityDescriptor is returned, as a document of its own (with the
// namespaces it inherited), so that nothing unsigned around it is read.
func (t MetadataTrust) verifyMetadata(raw []byte, option string, entity func(root *etree.Element) (*etree.Element, error)) ([]byte, error) {
	if len(t.Certificates) == 0 {
		return raw, nil
	}
	doc, err := Parse(raw, 0)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	ed, err := entity(root)
	if err != nil {
		return nil, err
	}
	// The whole document, before any signature is checked: an ID
	// elsewhere that repeats the signed one's is refused, as in messages.
	s := survey{ids: map[string]bool{}}
	if err := s.walk(root, 0); err != nil {
		return nil, err
	}
	if len(s.assertions)+len(s.encrypted) > 0 {
		return nil, fmt.Errorf("%w: metadata holds an assertion", ErrStructure)
	}
	signed := root
	if ed != root && child(root, NSDSig, "Signature") == nil && child(ed, NSDSig, "Signature") != nil {
		signed = ed
	}
	sig := child(signed, NSDSig, "Signature")
	if sig == nil && ed != root {
		return nil, fmt.Errorf("%w: neither its root <%s> nor the <%s> of the entity carries a signature, and %s says one must", ErrMetadataUnsigned, root.Tag, ed.Tag, option)
	}
	if sig == nil {
		return nil, fmt.Errorf("%w: its root <%s> carries no signature, and %s says it must", ErrMetadataUnsigned, root.Tag, option)
	}
	if kids := signed.ChildElements(); kids[0] != sig {
		return nil, fmt.Errorf("%w: metadata Signature is not the first child of <%s>", ErrWrapping, signed.Tag)
	}
	if signed.SelectAttrValue("ID", "") == "" {
		return nil, fmt.Errorf("%w: signed metadata <%s> without ID", ErrStructure, signed.Tag)
	}
	for _, other := range s.signatures {
		// Signatures of entities inside a signed aggregate are covered by
		// its signature, and removed on publishing; a second one on the
		// signed element is not.
		if other != sig && other.Parent() == signed {
			return nil, fmt.Errorf("%w: two Signatures on the signed metadata <%s>", ErrWrapping, signed.Tag)
		}
	}
	allowed := t.Algorithms
	if allowed == nil {
		allowed = DefaultAlgorithms()
	}
	if err := checkSignedInfo(sig, signed, allowed); err != nil {
		return nil, err
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: t.Certificates})
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
		vctx.Clock = dsig.NewFakeClockAt(now)
	}
	if err := validate(vctx, signed, "metadata"); err != nil {
		return nil, err
	}
	// An aggregate's own validUntil is unsigned when only the entity is:
	// it may still refuse the document, never extend it.
	dated := []*etree.Element{signed}
	if signed != root {
		dated = append(dated, root)
	}
	for _, el := range dated {
		if vu := el.SelectAttrValue("validUntil", ""); vu != "" {
			until, err := parseTime(vu)
			if err != nil {
				return nil, fmt.Errorf("%w: metadata validUntil %q", ErrMalformed, vu)
			}
			if !now.Before(until) {
				return nil, fmt.Errorf("%w: the signed metadata was valid until %s", ErrExpired, vu)
			}
		}
	}
	stripUnsigned(signed)
	if signed == root {
		return serialize(doc)
	}
	ctx, err := etreeutils.NSBuildParentContext(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrMalformed, err)
	}
	det, err := etreeutils.NSDetatch(ctx, signed)
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrMalformed, err)
	}
	one := etree.NewDocument()
	one.SetRoot(det)
	return serialize(one)
}
