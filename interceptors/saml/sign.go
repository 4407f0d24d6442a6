package saml

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/idphooks/idphooks/events"
)

// Signer re-signs verified Responses and logout messages with idphooks'
// key.
type Signer struct {
	// Key is idphooks' signing key. Only RSA keys are supported: goxmldsig,
	// and SPs built on it, read ECDSA XML signatures as ASN.1 where the
	// XML DSig spec wants r||s, so no choice is right for both.
	Key crypto.Signer
	// Certificate is Key's certificate, sent as X509Data.
	Certificate *x509.Certificate
	// Algorithm is the signature method; RSASHA256 when empty. The digest
	// uses the same hash.
	Algorithm string
	// Now stamps denials; time.Now when nil.
	Now func() time.Time
}

var rsaHashes = map[string]crypto.Hash{
	RSASHA1: crypto.SHA1, RSASHA256: crypto.SHA256, RSASHA384: crypto.SHA384, RSASHA512: crypto.SHA512,
}

var digestOf = map[crypto.Hash]string{
	crypto.SHA1: DigestSHA1, crypto.SHA256: DigestSHA256, crypto.SHA384: DigestSHA384, crypto.SHA512: DigestSHA512,
}

func (s *Signer) method() (string, crypto.Hash, error) {
	if s.Key == nil || s.Certificate == nil {
		return "", 0, errors.New("saml: signer without key or certificate")
	}
	if _, ok := s.Key.Public().(*rsa.PublicKey); !ok {
		return "", 0, fmt.Errorf("%w: only RSA signing keys are supported", ErrAlgorithm)
	}
	alg := s.Algorithm
	if alg == "" {
		alg = RSASHA256
	}
	h, ok := rsaHashes[alg]
	if !ok {
		return "", 0, fmt.Errorf("%w: signing with %q", ErrAlgorithm, alg)
	}
	return alg, h, nil
}

// Sign removes every upstream Signature and signs where the IdP had
// signed (the Assertion first when both), encrypting the assertion to
// r.EncryptTo in between when set, then serializes the document.
// It is called whether or not a hook changed anything: SPs trust only
// idphooks' certificate.
func (s *Signer) Sign(r *Response) ([]byte, error) {
	if _, _, err := s.method(); err != nil {
		return nil, err
	}
	stripSignatures(r.root)
	// The NameID and attributes that came encrypted go encrypted again,
	// inside the assertion's signature; put back after writing.
	restore, err := r.parts.seal(r.EncryptTo)
	if err != nil {
		return nil, err
	}
	defer restore()
	if r.Signed&SignedAssertion != 0 && r.assertion != nil {
		if err := s.signElement(r.assertion, r.prefixList); err != nil {
			return nil, err
		}
	}
	if r.EncryptTo != nil && r.assertion != nil {
		// Signed inside, then encrypted, then the Response signed over the
		// EncryptedAssertion (crewjam's order, and what SPs verify). The
		// assertion is put back after writing: r stays readable.
		ea, err := encryptAssertion(r.assertion, r.EncryptTo)
		if err != nil {
			return nil, err
		}
		i := r.assertion.Index()
		r.root.RemoveChildAt(i)
		r.root.InsertChildAt(i, ea)
		defer func() {
			r.root.RemoveChildAt(i)
			r.root.InsertChildAt(i, r.assertion)
		}()
	}
	if r.Signed&SignedResponse != 0 || r.assertion == nil {
		if err := s.signElement(r.root, r.prefixList); err != nil {
			return nil, err
		}
	}
	return serialize(r.doc)
}

func stripSignatures(el *etree.Element) {
	for _, c := range el.ChildElements() {
		if is(c, NSDSig, "Signature") {
			el.RemoveChild(c)
			continue
		}
		stripSignatures(c)
	}
}

// signElement adds an enveloped signature to el, right after its Issuer
// (schema order), with one Reference to el's ID, exclusive C14N and
// prefixes listed as inclusive.
func (s *Signer) signElement(el *etree.Element, prefixList []string) error {
	alg, h, _ := s.method()
	id := el.SelectAttrValue("ID", "")
	if id == "" {
		return fmt.Errorf("%w: <%s> without ID", ErrStructure, el.Tag)
	}
	pl := strings.Join(prefixList, " ")
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return err
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return err
	}
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(pl).Canonicalize(det)
	if err != nil {
		return err
	}
	d := h.New()
	d.Write(canon)

	const p = "ds"
	mk := func(parent *etree.Element, tag string) *etree.Element {
		c := parent.CreateElement(tag)
		c.Space = p
		return c
	}
	sig := etree.NewElement("Signature")
	sig.Space = p
	sig.CreateAttr("xmlns:"+p, NSDSig)
	si := mk(sig, "SignedInfo")
	mk(si, "CanonicalizationMethod").CreateAttr("Algorithm", nsExcC14N)
	mk(si, "SignatureMethod").CreateAttr("Algorithm", alg)
	ref := mk(si, "Reference")
	ref.CreateAttr("URI", "#"+id)
	ts := mk(ref, "Transforms")
	mk(ts, "Transform").CreateAttr("Algorithm", string(dsig.EnvelopedSignatureAltorithmId))
	t := mk(ts, "Transform")
	t.CreateAttr("Algorithm", nsExcC14N)
	if pl != "" {
		in := t.CreateElement("InclusiveNamespaces")
		in.Space = "ec"
		in.CreateAttr("xmlns:ec", nsExcC14N)
		in.CreateAttr("PrefixList", pl)
	}
	mk(ref, "DigestMethod").CreateAttr("Algorithm", digestOf[h])
	mk(ref, "DigestValue").SetText(base64.StdEncoding.EncodeToString(d.Sum(nil)))

	// SignedInfo's canonical form, as a verifier computes it in place.
	sictx, err := etreeutils.NSBuildParentContext(si)
	if err != nil {
		return err
	}
	sidet, err := etreeutils.NSDetatch(sictx, si)
	if err != nil {
		return err
	}
	sicanon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(sidet)
	if err != nil {
		return err
	}
	sh := h.New()
	sh.Write(sicanon)
	value, err := s.Key.Sign(rand.Reader, sh.Sum(nil), h)
	if err != nil {
		return fmt.Errorf("saml: signing: %w", err)
	}
	mk(sig, "SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	mk(mk(mk(sig, "KeyInfo"), "X509Data"), "X509Certificate").SetText(base64.StdEncoding.EncodeToString(s.Certificate.Raw))

	at := 0
	if is := child(el, NSAssertion, "Issuer"); is != nil {
		at = is.Index() + 1
	}
	el.InsertChildAt(at, sig)
	return nil
}

// Deny builds, for a verified Response, the signed Response an SP shows
// as a failed login: same Issuer, Destination and InResponseTo, status
// Responder/RequestDenied with message, no assertion.
func (s *Signer) Deny(r *Response, message string) ([]byte, error) {
	if _, _, err := s.method(); err != nil {
		return nil, err
	}
	if err := events.XMLText(message, events.MaxAttributeValue); err != nil {
		return nil, fmt.Errorf("saml: deny message: %v", err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	m := r.Model()
	idb := make([]byte, 20)
	if _, err := rand.Read(idb); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	res := doc.CreateElement("samlp:Response")
	res.CreateAttr("xmlns:samlp", NSProtocol)
	res.CreateAttr("xmlns:saml", NSAssertion)
	if m.Destination != "" {
		res.CreateAttr("Destination", m.Destination)
	}
	res.CreateAttr("ID", "ID_"+hex.EncodeToString(idb))
	if m.InResponseTo != "" {
		res.CreateAttr("InResponseTo", m.InResponseTo)
	}
	res.CreateAttr("IssueInstant", now().UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z"))
	res.CreateAttr("Version", "2.0")
	res.CreateElement("saml:Issuer").SetText(m.Issuer)
	st := res.CreateElement("samlp:Status")
	code := st.CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", StatusResponder)
	code.CreateElement("samlp:StatusCode").CreateAttr("Value", StatusRequestDenied)
	if message != "" {
		st.CreateElement("samlp:StatusMessage").SetText(message)
	}
	if err := s.signElement(res, nil); err != nil {
		return nil, err
	}
	return serialize(doc)
}
