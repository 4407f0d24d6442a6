package saml

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// NSMetadata is the SAML 2.0 metadata namespace.
const NSMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"

// IdPMetadata is what idphooks needs of the upstream IdP's metadata: who
// it is, the certificates its messages are verified with, and where its
// endpoints are (to tell its traffic from the rest).
type IdPMetadata struct {
	EntityID string
	// Signing are the certificates of KeyDescriptors for signing (or
	// without a use, which means both).
	Signing []*x509.Certificate
	// Encryption are those for encryption (or without a use).
	Encryption []*x509.Certificate
	// SSO and SLO are the SingleSignOnService and SingleLogoutService
	// endpoints.
	SSO, SLO []Endpoint
}

// Endpoint is one service location and its binding.
type Endpoint struct {
	Binding, Location, ResponseLocation string
}

// ParseIdPMetadata reads an EntityDescriptor (or the one IdP of an
// EntitiesDescriptor) with the same safe parsing as messages. A document
// naming no signing certificate is refused: nothing could be verified.
func ParseIdPMetadata(data []byte) (*IdPMetadata, error) {
	doc, err := Parse(data, 0)
	if err != nil {
		return nil, err
	}
	ed, err := idpEntity(doc.Root())
	if err != nil {
		return nil, err
	}
	idp := child(ed, NSMetadata, "IDPSSODescriptor")
	md := &IdPMetadata{EntityID: ed.SelectAttrValue("entityID", "")}
	if md.EntityID == "" {
		return nil, fmt.Errorf("%w: metadata: EntityDescriptor without entityID", ErrStructure)
	}
	for _, kd := range children(idp, NSMetadata, "KeyDescriptor") {
		certs, err := keyCertificates(kd)
		if err != nil {
			return nil, err
		}
		switch kd.SelectAttrValue("use", "") {
		case "signing":
			md.Signing = append(md.Signing, certs...)
		case "encryption":
			md.Encryption = append(md.Encryption, certs...)
		case "":
			md.Signing = append(md.Signing, certs...)
			md.Encryption = append(md.Encryption, certs...)
		}
	}
	if len(md.Signing) == 0 {
		return nil, fmt.Errorf("%w: metadata of %s names no signing certificate", ErrStructure, md.EntityID)
	}
	md.SSO = endpoints(idp, "SingleSignOnService")
	md.SLO = endpoints(idp, "SingleLogoutService")
	return md, nil
}

// idpEntity finds the EntityDescriptor with an IDPSSODescriptor: the root,
// or the only such one in an EntitiesDescriptor (several are ambiguous:
// which IdP is upstream would depend on order).
func idpEntity(root *etree.Element) (*etree.Element, error) {
	if root == nil || root.NamespaceURI() != NSMetadata {
		return nil, fmt.Errorf("%w: not SAML metadata", ErrStructure)
	}
	switch root.Tag {
	case "EntityDescriptor":
		if child(root, NSMetadata, "IDPSSODescriptor") == nil {
			return nil, fmt.Errorf("%w: metadata has no IDPSSODescriptor", ErrStructure)
		}
		return root, nil
	case "EntitiesDescriptor":
		var found *etree.Element
		for _, ed := range children(root, NSMetadata, "EntityDescriptor") {
			if child(ed, NSMetadata, "IDPSSODescriptor") == nil {
				continue
			}
			if found != nil {
				return nil, fmt.Errorf("%w: metadata describes more than one IdP", ErrStructure)
			}
			found = ed
		}
		if found == nil {
			return nil, fmt.Errorf("%w: metadata has no IdP", ErrStructure)
		}
		return found, nil
	}
	return nil, fmt.Errorf("%w: metadata root is %s", ErrStructure, root.Tag)
}

func keyCertificates(kd *etree.Element) ([]*x509.Certificate, error) {
	ki := child(kd, NSDSig, "KeyInfo")
	if ki == nil {
		return nil, nil
	}
	var out []*x509.Certificate
	for _, xd := range children(ki, NSDSig, "X509Data") {
		for _, c := range children(xd, NSDSig, "X509Certificate") {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text(c)), ""))
			if err != nil {
				return nil, fmt.Errorf("%w: metadata certificate is not base64: %v", ErrMalformed, err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%w: metadata certificate: %v", ErrMalformed, err)
			}
			out = append(out, cert)
		}
	}
	return out, nil
}

func endpoints(parent *etree.Element, tag string) []Endpoint {
	var out []Endpoint
	for _, e := range children(parent, NSMetadata, tag) {
		out = append(out, Endpoint{Binding: e.SelectAttrValue("Binding", ""), Location: e.SelectAttrValue("Location", ""),
			ResponseLocation: e.SelectAttrValue("ResponseLocation", "")})
	}
	return out
}

// Paths are the URL paths of the IdP's SSO and SLO endpoints, where its
// messages to SPs are answered: what the interceptor looks at.
func (m *IdPMetadata) Paths() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range append(append([]Endpoint(nil), m.SSO...), m.SLO...) {
		for _, loc := range []string{e.Location, e.ResponseLocation} {
			u, err := url.Parse(loc)
			if loc == "" || err != nil || seen[u.Path] {
				continue
			}
			seen[u.Path] = true
			out = append(out, u.Path)
		}
	}
	return out
}
