package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Namespaces.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig      = dsig.Namespace
	NSXS        = "http://www.w3.org/2001/XMLSchema"
	NSXSI       = "http://www.w3.org/2001/XMLSchema-instance"
	nsExcC14N   = "http://www.w3.org/2001/10/xml-exc-c14n#"
)

// Signature and digest algorithms (XML DSig identifiers, RFC 6931).
const (
	RSASHA1     = dsig.RSASHA1SignatureMethod
	RSASHA256   = dsig.RSASHA256SignatureMethod
	RSASHA384   = dsig.RSASHA384SignatureMethod
	RSASHA512   = dsig.RSASHA512SignatureMethod
	ECDSASHA1   = dsig.ECDSASHA1SignatureMethod
	ECDSASHA256 = dsig.ECDSASHA256SignatureMethod
	ECDSASHA384 = dsig.ECDSASHA384SignatureMethod
	ECDSASHA512 = dsig.ECDSASHA512SignatureMethod

	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// DefaultAlgorithms is the allow-list a Verifier applies when given none:
// RSA and ECDSA signatures with SHA-256 and up, and those digests. SHA-1,
// as a signature or a digest, is accepted only when listed.
func DefaultAlgorithms() []string {
	return []string{
		RSASHA256, RSASHA384, RSASHA512, ECDSASHA256, ECDSASHA384, ECDSASHA512,
		DigestSHA256, DigestSHA384, DigestSHA512,
	}
}

// MaxElements bounds the elements of a document. goxmldsig 1.6.1 refuses
// to detach or canonicalize more than 1000 nodes (GHSA-qhrp-hfff-vphr);
// refusing here first gives a clear error instead of a failed signature.
const MaxElements = 1000

// Placement says which elements the IdP signed; re-signing signs the same.
type Placement uint8

const (
	SignedResponse Placement = 1 << iota
	SignedAssertion
)

func (p Placement) String() string {
	switch p {
	case SignedResponse:
		return "response"
	case SignedAssertion:
		return "assertion"
	case SignedResponse | SignedAssertion:
		return "both"
	}
	return "none"
}

// Verifier checks upstream Responses and logout messages against the
// IdP's signing certificates.
type Verifier struct {
	// Certificates are the IdP's signing certificates, from its metadata.
	Certificates []*x509.Certificate
	// Algorithms is the allow-list of signature and digest algorithms;
	// DefaultAlgorithms when nil.
	Algorithms []string
	// MaxDepth bounds nesting; DefaultMaxDepth when 0.
	MaxDepth int
	// DecryptionKeys are idphooks' encryption keys, every one an IdP may
	// have been given (current, next, retired): an EncryptedAssertion is
	// decrypted with the one that unwraps it. None: ErrEncrypted.
	DecryptionKeys []*rsa.PrivateKey
	// Now is the clock for certificate validity; time.Now when nil.
	Now func() time.Time
}

// Response is a verified SAML Response: the elements goxmldsig returned,
// and nothing of the document that arrived but the unsigned envelope when
// only the Assertion was signed. It is not safe for concurrent use.
type Response struct {
	doc       *etree.Document
	root      *etree.Element // samlp:Response
	assertion *etree.Element // its one Assertion, nil in an error Response

	// Signed says where the IdP had put signatures; Sign signs the same
	// unless it is changed first (an SP configured otherwise).
	Signed Placement

	// Encrypted says the assertion came encrypted (and was decrypted).
	Encrypted bool
	// decryptedWith is the key of v.DecryptionKeys that decrypted it.
	decryptedWith *rsa.PrivateKey
	// EncryptTo, when set, makes Sign send the assertion encrypted to
	// this SP, signed inside where it is to be signed.
	EncryptTo *Encryption

	// parts are the assertion's EncryptedID and EncryptedAttributes,
	// opened for the hooks and sealed again by Sign (to EncryptTo).
	parts *openedParts

	// NewAttributeFormat is the NameFormat of attributes SetAttribute
	// creates without one; basic when empty.
	NewAttributeFormat string

	// prefixList are the prefixes only xsi:type values use (xs): they are
	// declared on each element using them and signed as inclusive.
	prefixList []string
}

// Verify parses a Response, refuses wrapping shapes, verifies its
// signatures (a Response signature covers its Assertion; an Assertion
// signature alone is enough; neither is refused) and returns the verified
// elements. An EncryptedAssertion is decrypted with v.DecryptionKeys
// (see verifyEncrypted), or refused with ErrEncrypted when there are none.
func (v *Verifier) Verify(data []byte) (*Response, error) {
	doc, err := Parse(data, v.MaxDepth)
	if err != nil {
		return nil, err
	}
	return v.VerifyDocument(doc)
}

// VerifyDocument is Verify on a document read with Parse. The document is
// changed (its Assertion may be replaced by the verified one).
func (v *Verifier) VerifyDocument(doc *etree.Document) (*Response, error) {
	root := doc.Root()
	if root == nil || !is(root, NSProtocol, "Response") {
		return nil, fmt.Errorf("%w: root is not a samlp:Response", ErrStructure)
	}
	s := survey{ids: map[string]bool{}}
	if err := s.walk(root, 0); err != nil {
		return nil, err
	}
	if len(s.assertions)+len(s.encrypted) > 1 {
		return nil, fmt.Errorf("%w: %d assertions", ErrWrapping, len(s.assertions)+len(s.encrypted))
	}
	if len(s.encrypted) == 1 {
		if len(v.DecryptionKeys) == 0 {
			return nil, ErrEncrypted
		}
		return v.verifyEncrypted(doc, s)
	}
	rootID := root.SelectAttrValue("ID", "")
	if rootID == "" {
		return nil, fmt.Errorf("%w: Response without ID", ErrStructure)
	}
	var assertion *etree.Element
	if len(s.assertions) == 1 {
		assertion = s.assertions[0]
		if assertion.Parent() != root {
			return nil, fmt.Errorf("%w: Assertion not a child of the Response", ErrWrapping)
		}
		if assertion.SelectAttrValue("ID", "") == "" {
			return nil, fmt.Errorf("%w: Assertion without ID", ErrStructure)
		}
	}
	allowed := v.allowed()
	var placed Placement
	for _, sig := range s.signatures {
		parent := sig.Parent()
		var p Placement
		switch {
		case parent == root:
			p = SignedResponse
		case assertion != nil && parent == assertion:
			p = SignedAssertion
		default:
			return nil, fmt.Errorf("%w: Signature inside <%s>", ErrWrapping, parent.Tag)
		}
		if placed&p != 0 {
			return nil, fmt.Errorf("%w: two Signatures on the %s", ErrWrapping, p)
		}
		placed |= p
		if err := checkSignature(sig, parent, allowed); err != nil {
			return nil, err
		}
	}
	if placed == 0 {
		return nil, ErrUnsigned
	}
	status := statusOf(root)
	if status.Code != StatusSuccess && assertion != nil {
		return nil, fmt.Errorf("%w: %s Response with an Assertion", ErrStructure, status.Code)
	}

	vctx := v.validationContext()
	r := &Response{Signed: placed}
	var err error
	// Both signatures are checked on the document as it came (validation
	// copies). What goxmldsig returns is its canonical form of the very
	// element given to it, which the survey held to one shape: the
	// Signature a direct child referencing that element's ID, one
	// Reference, only enveloped and C14N transforms. So the element as it
	// came is what was signed but for what canonicalization leaves out:
	// comments and processing instructions, which are removed, and where
	// namespaces are declared and attributes ordered, which are kept, so
	// that an SP gets the IdP's document but for the signature.
	if placed&SignedAssertion != 0 {
		if err := validate(vctx, assertion, "Assertion"); err != nil {
			return nil, err
		}
	}
	if placed&SignedResponse != 0 {
		if err := validate(vctx, root, "Response"); err != nil {
			return nil, err
		}
	}
	stripUnsigned(root)
	r.doc, r.root, r.assertion = doc, root, assertion
	if assertion != nil {
		if r.parts, err = v.open(root, assertion); err != nil {
			return nil, err
		}
	}
	if err := r.normalizeTypePrefixes(s.typeNS); err != nil {
		return nil, err
	}
	return r, nil
}

// allowed is the algorithm allow-list in force.
func (v *Verifier) allowed() []string {
	if v.Algorithms == nil {
		return DefaultAlgorithms()
	}
	return v.Algorithms
}

// validationContext is goxmldsig's, trusting only v.Certificates, on v's
// clock.
func (v *Verifier) validationContext() *dsig.ValidationContext {
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: v.Certificates})
	if v.Now != nil {
		vctx.Clock = dsig.NewFakeClockAt(v.Now())
	}
	return vctx
}

// validate runs goxmldsig on el, detached with the namespaces in scope, and
// checks that what came back is el.
func validate(vctx *dsig.ValidationContext, el *etree.Element, what string) error {
	_, err := validated(vctx, el, what)
	return err
}

// validated is validate returning goxmldsig's canonical element.
func validated(vctx *dsig.ValidationContext, el *etree.Element, what string) (*etree.Element, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	got, err := vctx.Validate(det)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSignature, what, err)
	}
	if got.Tag != el.Tag || got.NamespaceURI() != el.NamespaceURI() ||
		got.SelectAttrValue("ID", "") != el.SelectAttrValue("ID", "") {
		return nil, fmt.Errorf("%w: %s: the validator returned another element", ErrWrapping, what)
	}
	return got, nil
}

// stripUnsigned removes the comments and processing instructions inside
// el: no signature covers them (C14N without comments), so nothing of
// them may reach an SP under idphooks' signature.
func stripUnsigned(el *etree.Element) {
	for i := len(el.Child) - 1; i >= 0; i-- {
		switch t := el.Child[i].(type) {
		case *etree.Comment, *etree.ProcInst:
			el.RemoveChildAt(i)
		case *etree.Element:
			stripUnsigned(t)
		}
	}
}

// survey is one walk of the whole document, before any signature is
// checked, collecting what wrapping attacks need: IDs, assertions,
// signatures, split text.
type survey struct {
	ids        map[string]bool
	assertions []*etree.Element
	encrypted  []*etree.Element
	signatures []*etree.Element
	typeNS     map[string]string // prefix of xsi:type values → namespace
	elements   int
}

// textOnly are the elements whose text hooks and SPs read: their text
// must be one run, so that nobody can read less of it than was signed.
var textOnly = map[string]bool{
	"Issuer": true, "NameID": true, "AttributeValue": true, "Audience": true,
	"AuthnContextClassRef": true,
}

// protocolTextOnly are the same in the protocol namespace: the
// SessionIndex of a LogoutRequest names the session an SP ends.
var protocolTextOnly = map[string]bool{"SessionIndex": true}

func (s *survey) walk(el *etree.Element, depth int) error {
	s.elements++
	if s.elements > MaxElements {
		return fmt.Errorf("%w: over %d elements", ErrTooLarge, MaxElements)
	}
	idAttrs := 0
	for _, a := range el.Attr {
		if isIDAttr(a) {
			if idAttrs++; idAttrs > 1 {
				return fmt.Errorf("%w: <%s> has two ID attributes", ErrWrapping, el.FullTag())
			}
			if s.ids[a.Value] {
				return fmt.Errorf("%w: duplicate ID %q", ErrWrapping, a.Value)
			}
			s.ids[a.Value] = true
		}
		if a.Key == "type" && a.Space != "" && a.NamespaceURI() == NSXSI {
			if p, _, ok := strings.Cut(a.Value, ":"); ok {
				uri := lookupPrefix(el, p)
				if s.typeNS == nil {
					s.typeNS = map[string]string{}
				}
				if old, seen := s.typeNS[p]; seen && old != uri {
					return fmt.Errorf("%w: prefix %s bound to two namespaces", ErrStructure, p)
				}
				s.typeNS[p] = uri
			}
		}
	}
	ns := el.NamespaceURI()
	switch {
	case ns == NSAssertion && el.Tag == "Assertion":
		s.assertions = append(s.assertions, el)
	case ns == NSAssertion && el.Tag == "EncryptedAssertion":
		s.encrypted = append(s.encrypted, el)
	case ns == NSDSig && el.Tag == "Signature":
		s.signatures = append(s.signatures, el)
	}
	if ns == NSDSig {
		// xml-crypto CVE-2025-29775: a comment inside DigestValue let the
		// digest read differ from the one signed. Nothing in a Signature
		// has a use for comments or processing instructions.
		for _, t := range el.Child {
			switch t.(type) {
			case *etree.Comment, *etree.ProcInst:
				return fmt.Errorf("%w: comment or processing instruction inside ds:%s", ErrWrapping, el.Tag)
			}
		}
	}
	if ns == NSAssertion && textOnly[el.Tag] || ns == NSProtocol && protocolTextOnly[el.Tag] {
		runs := 0
		for _, t := range el.Child {
			switch t.(type) {
			case *etree.CharData:
				runs++
			case *etree.Comment, *etree.ProcInst:
				return fmt.Errorf("%w: comment or processing instruction inside %s", ErrWrapping, el.Tag)
			}
		}
		if runs > 1 {
			return fmt.Errorf("%w: text of %s split in %d runs", ErrWrapping, el.Tag, runs)
		}
	}
	for c := range elements(el) {
		if err := s.walk(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// isIDAttr reports whether a is an ID as goxmldsig finds one: it looks
// references up with etree's SelectAttr("ID"), which matches the local
// name under any prefix (x:ID, even xmlns:ID), so the survey counts the
// same attributes.
func isIDAttr(a etree.Attr) bool { return a.Key == "ID" }

var (
	c14nAlgorithms = []string{
		string(dsig.CanonicalXML10ExclusiveAlgorithmId),
		string(dsig.CanonicalXML10RecAlgorithmId),
		string(dsig.CanonicalXML11AlgorithmId),
	}
	transformAlgorithms = append([]string{string(dsig.EnvelopedSignatureAltorithmId)}, c14nAlgorithms...)
)

// checkSignature holds a Signature to the one shape idphooks accepts: the
// direct child of the element it signs, right after its Issuer, with one
// SignedInfo, one Reference to that element's ID, allowed algorithms, an
// enveloped transform and no Object; every part of the SignedInfo once.
func checkSignature(sig, parent *etree.Element, allowed []string) error {
	kids := parent.ChildElements()
	if len(kids) < 2 || !is(kids[0], NSAssertion, "Issuer") || kids[1] != sig {
		return fmt.Errorf("%w: %s Signature not right after its Issuer", ErrWrapping, parent.Tag)
	}
	return checkSignedInfo(sig, parent, allowed)
}

// checkSignedInfo is checkSignature but for where the Signature stands.
func checkSignedInfo(sig, parent *etree.Element, allowed []string) error {
	where := parent.Tag
	counts := map[string]int{}
	for c := range elements(sig) {
		if c.NamespaceURI() != NSDSig {
			return fmt.Errorf("%w: %s Signature holds <%s>", ErrWrapping, where, c.Tag)
		}
		counts[c.Tag]++
	}
	if counts["SignedInfo"] != 1 || counts["SignatureValue"] != 1 || counts["KeyInfo"] > 1 ||
		len(counts) > 3 || len(counts) == 3 && counts["KeyInfo"] == 0 {
		return fmt.Errorf("%w: %s Signature is not SignedInfo, SignatureValue, KeyInfo", ErrWrapping, where)
	}
	si := child(sig, NSDSig, "SignedInfo")
	var refs []*etree.Element
	var cm, sm *etree.Element
	for c := range elements(si) {
		switch {
		case is(c, NSDSig, "Reference"):
			refs = append(refs, c)
		case is(c, NSDSig, "CanonicalizationMethod") && cm == nil:
			cm = c
		case is(c, NSDSig, "SignatureMethod") && sm == nil:
			sm = c
		default:
			// A second CanonicalizationMethod or SignatureMethod too: the
			// first is checked, goxmldsig would use the last.
			return fmt.Errorf("%w: %s SignedInfo holds <%s> beyond one CanonicalizationMethod, SignatureMethod and Reference", ErrWrapping, where, c.FullTag())
		}
	}
	if len(refs) != 1 {
		return fmt.Errorf("%w: %s Signature has %d References", ErrWrapping, where, len(refs))
	}
	if cm == nil || sm == nil {
		return fmt.Errorf("%w: %s SignedInfo incomplete", ErrStructure, where)
	}
	if a := cm.SelectAttrValue("Algorithm", ""); !slices.Contains(c14nAlgorithms, a) {
		return fmt.Errorf("%w: canonicalization %q", ErrAlgorithm, a)
	}
	if a := sm.SelectAttrValue("Algorithm", ""); !slices.Contains(allowed, a) {
		return fmt.Errorf("%w: signature %q", ErrAlgorithm, a)
	}
	ref := refs[0]
	if uri, id := ref.SelectAttrValue("URI", ""), parent.SelectAttrValue("ID", ""); uri != "#"+id {
		return fmt.Errorf("%w: %s Signature references %q, not its %s's ID", ErrWrapping, where, uri, where)
	}
	// goxmldsig reads the Reference with encoding/xml into a struct, where
	// a repeated element's last instance wins and DigestValue is matched
	// by local name in any namespace: what is checked here must be the
	// only one there is.
	var dm, dv, ts *etree.Element
	for c := range elements(ref) {
		switch {
		case is(c, NSDSig, "DigestMethod") && dm == nil:
			dm = c
		case is(c, NSDSig, "DigestValue") && dv == nil:
			dv = c
		case is(c, NSDSig, "Transforms") && ts == nil:
			ts = c
		default:
			return fmt.Errorf("%w: %s Reference holds <%s> beyond one Transforms, DigestMethod and DigestValue", ErrWrapping, where, c.FullTag())
		}
	}
	if dm == nil || dv == nil {
		return fmt.Errorf("%w: %s Reference without DigestMethod or DigestValue", ErrStructure, where)
	}
	if a := dm.SelectAttrValue("Algorithm", ""); !slices.Contains(allowed, a) {
		return fmt.Errorf("%w: digest %q", ErrAlgorithm, a)
	}
	enveloped := false
	if ts != nil {
		for t := range elements(ts) {
			a := t.SelectAttrValue("Algorithm", "")
			if !is(t, NSDSig, "Transform") || !slices.Contains(transformAlgorithms, a) {
				return fmt.Errorf("%w: transform %q", ErrAlgorithm, a)
			}
			enveloped = enveloped || a == string(dsig.EnvelopedSignatureAltorithmId)
		}
	}
	if !enveloped {
		return fmt.Errorf("%w: %s Signature is not enveloped", ErrWrapping, where)
	}
	return nil
}

func is(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

func child(el *etree.Element, ns, local string) *etree.Element {
	for c := range elements(el) {
		if is(c, ns, local) {
			return c
		}
	}
	return nil
}

// lookupPrefix resolves a namespace prefix in scope at el ("" when
// undeclared).
func lookupPrefix(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if prefix == "" && a.Space == "" && a.Key == "xmlns" || a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}
