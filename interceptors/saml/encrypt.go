package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// XML Encryption identifiers (XML Encryption 1.0 and 1.1).
const (
	NSXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
	NSXMLEnc11 = "http://www.w3.org/2009/xmlenc11#"

	AES128GCM = NSXMLEnc11 + "aes128-gcm"
	AES192GCM = NSXMLEnc11 + "aes192-gcm"
	AES256GCM = NSXMLEnc11 + "aes256-gcm"
	AES128CBC = NSXMLEnc + "aes128-cbc"
	AES192CBC = NSXMLEnc + "aes192-cbc"
	AES256CBC = NSXMLEnc + "aes256-cbc"

	// RSAOAEPMGF1P is RSA-OAEP with MGF1-SHA1 (XML Encryption 1.0), the
	// key transport every SP library reads; RSAOAEP is XML Encryption
	// 1.1's, whose digest and MGF are stated (Keycloak: SHA-256 both).
	RSAOAEPMGF1P = NSXMLEnc + "rsa-oaep-mgf1p"
	RSAOAEP      = NSXMLEnc11 + "rsa-oaep"
	// RSA15 is refused: PKCS#1 v1.5 key transport is what Bleichenbacher
	// oracles decrypt.
	RSA15 = NSXMLEnc + "rsa-1_5"

	typeElement = NSXMLEnc + "Element"
)

// blockCiphers are the data algorithms idphooks decrypts and encrypts
// with. AES-CBC has no integrity of its own: it is decrypted because
// SimpleSAMLphp, ADFS and others send it, and a signature (the Response's,
// checked before decryption, or the assertion's, after) is required all
// the same.
var blockCiphers = map[string]xmlenc.BlockCipher{
	AES128GCM: xmlenc.AES128GCM, AES192GCM: xmlenc.AES192GCM, AES256GCM: xmlenc.AES256GCM,
	AES128CBC: xmlenc.AES128CBC, AES192CBC: xmlenc.AES192CBC, AES256CBC: xmlenc.AES256CBC,
}

// oaepDigests and mgfs are the hashes RSA-OAEP may name; SHA-1 is fine
// there (OAEP needs no collision resistance) and is the mgf1p default.
var (
	oaepDigests = []string{DigestSHA1, DigestSHA256, DigestSHA384, DigestSHA512}
	mgfs        = []string{NSXMLEnc11 + "mgf1sha1", NSXMLEnc11 + "mgf1sha256", NSXMLEnc11 + "mgf1sha384", NSXMLEnc11 + "mgf1sha512"}
)

// maxEncryptedKeys bounds the EncryptedKeys tried: an IdP encrypting to
// an SP with two keys (a rotation) sends two; every one costs an RSA
// private-key operation per decryption key.
const maxEncryptedKeys = 3

// Encryption is how Sign encrypts an assertion to an SP.
type Encryption struct {
	// Certificate is the SP's encryption certificate (an RSA key).
	Certificate *x509.Certificate
	// Algorithms are what the SP reads (its metadata's EncryptionMethods),
	// in its order of preference: the first data algorithm and the first
	// key transport listed are used. Defaults: AES256GCM (every current SP
	// library reads it) and RSAOAEPMGF1P with SHA-1 (crewjam, node-saml's
	// xml-encryption and xmlseclibs read it; XML Encryption 1.1's RSAOAEP,
	// which Keycloak writes, not all of them).
	Algorithms []string
}

// EncryptionAlgorithms are the algorithms Encryption.Algorithms may name.
func EncryptionAlgorithms() []string {
	return []string{AES256GCM, AES192GCM, AES128GCM, AES256CBC, AES192CBC, AES128CBC, RSAOAEPMGF1P, RSAOAEP}
}

// Check reports whether e can be used: an RSA certificate, known
// algorithms.
func (e *Encryption) Check() error {
	if e.Certificate == nil {
		return errors.New("saml: encryption without a certificate")
	}
	if _, ok := e.Certificate.PublicKey.(*rsa.PublicKey); !ok {
		return fmt.Errorf("%w: the SP's encryption certificate must hold an RSA key", ErrAlgorithm)
	}
	for _, a := range e.Algorithms {
		if !slices.Contains(EncryptionAlgorithms(), a) {
			return fmt.Errorf("%w: encrypting with %q", ErrAlgorithm, a)
		}
	}
	return nil
}

// methods are the data algorithm and key transport e says.
func (e *Encryption) methods() (data, keyTransport string) {
	for _, a := range e.Algorithms {
		switch {
		case blockCiphers[a] != nil && data == "":
			data = a
		case (a == RSAOAEPMGF1P || a == RSAOAEP) && keyTransport == "":
			keyTransport = a
		}
	}
	if data == "" {
		data = AES256GCM
	}
	if keyTransport == "" {
		keyTransport = RSAOAEPMGF1P
	}
	return data, keyTransport
}

// encryptAssertion returns an EncryptedAssertion holding a, serialized
// with the namespaces in scope so that it reads alone once decrypted.
func encryptAssertion(a *etree.Element, e *Encryption) (*etree.Element, error) {
	return encryptElement(a, e, "EncryptedAssertion")
}

// encryptElement returns the element called wrapper (EncryptedAssertion,
// EncryptedID, EncryptedAttribute: saml-core's EncryptedElementType) in
// el's namespace and prefix, holding el encrypted with e, serialized with
// the namespaces in scope so that it reads alone once decrypted.
func encryptElement(el *etree.Element, e *Encryption, wrapper string) (*etree.Element, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(det)
	plain, err := serialize(doc)
	if err != nil {
		return nil, err
	}
	data, kt := e.methods()
	var enc xmlenc.RSA
	if kt == RSAOAEP {
		enc = xmlenc.OAEP_SHA256()
	} else {
		enc = xmlenc.OAEP()
		enc.DigestMethod = xmlenc.SHA1
	}
	enc.BlockCipher = blockCiphers[data]
	ed, err := enc.Encrypt(e.Certificate, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: encrypting the %s: %w", el.Tag, err)
	}
	ed.CreateAttr("Type", typeElement)
	tag := wrapper
	if el.Space != "" {
		tag = el.Space + ":" + tag
	}
	ea := etree.NewElement(tag)
	if p := el.Parent(); p == nil || lookupPrefix(p, el.Space) != NSAssertion {
		if el.Space == "" {
			ea.CreateAttr("xmlns", NSAssertion)
		} else {
			ea.CreateAttr("xmlns:"+el.Space, NSAssertion)
		}
	}
	ea.AddChild(ed)
	return ea, nil
}

// encryptedParts checks an EncryptedAssertion, EncryptedID or
// EncryptedAttribute before anything is decrypted: one EncryptedData of an element, its key in one to
// maxEncryptedKeys EncryptedKeys (in its KeyInfo, as Keycloak and most
// IdPs write it, or beside it), every algorithm on the allow-list. The
// elements crewjam's xmlenc then reads (by local name) are exactly these.
func encryptedParts(ea *etree.Element) (ed *etree.Element, eks []*etree.Element, err error) {
	for _, c := range ea.ChildElements() {
		switch {
		case is(c, NSXMLEnc, "EncryptedData") && ed == nil:
			ed = c
		case is(c, NSXMLEnc, "EncryptedKey"):
			eks = append(eks, c)
		default:
			return nil, nil, fmt.Errorf("%w: <%s> in %s", ErrStructure, c.Tag, ea.Tag)
		}
	}
	if ed == nil {
		return nil, nil, fmt.Errorf("%w: %s without EncryptedData", ErrStructure, ea.Tag)
	}
	if t := ed.SelectAttrValue("Type", typeElement); t != typeElement {
		return nil, nil, fmt.Errorf("%w: EncryptedData of type %q", ErrStructure, t)
	}
	em, ki, err := encryptedType(ed, "EncryptedData")
	if err != nil {
		return nil, nil, err
	}
	if a := em.SelectAttrValue("Algorithm", ""); blockCiphers[a] == nil {
		return nil, nil, fmt.Errorf("%w: data encrypted with %q", ErrAlgorithm, a)
	}
	for _, c := range em.ChildElements() {
		if !is(c, NSXMLEnc, "KeySize") {
			return nil, nil, fmt.Errorf("%w: <%s> in the data's EncryptionMethod", ErrStructure, c.Tag)
		}
	}
	if ki != nil {
		for _, c := range ki.ChildElements() {
			switch {
			case is(c, NSXMLEnc, "EncryptedKey"):
				eks = append(eks, c)
			case is(c, NSDSig, "RetrievalMethod"), is(c, NSDSig, "KeyName"):
				// Names of an EncryptedKey: the ones here are all tried.
			default:
				return nil, nil, fmt.Errorf("%w: <%s> in EncryptedData's KeyInfo", ErrStructure, c.Tag)
			}
		}
	}
	if len(eks) == 0 || len(eks) > maxEncryptedKeys {
		return nil, nil, fmt.Errorf("%w: %d EncryptedKeys", ErrStructure, len(eks))
	}
	for _, ek := range eks {
		if err := checkEncryptedKey(ek); err != nil {
			return nil, nil, err
		}
	}
	return ed, eks, nil
}

// encryptedType checks what EncryptedData and EncryptedKey share: one
// EncryptionMethod, at most one KeyInfo, one CipherData holding one
// CipherValue (a CipherReference would make us fetch), and the optional
// parts of EncryptedKey.
func encryptedType(el *etree.Element, what string) (em, ki *etree.Element, err error) {
	var cd *etree.Element
	for _, c := range el.ChildElements() {
		switch {
		case is(c, NSXMLEnc, "EncryptionMethod") && em == nil && ki == nil && cd == nil:
			em = c
		case is(c, NSDSig, "KeyInfo") && ki == nil && cd == nil:
			ki = c
		case is(c, NSXMLEnc, "CipherData") && cd == nil:
			cd = c
		case what == "EncryptedKey" && cd != nil && (is(c, NSXMLEnc, "ReferenceList") || is(c, NSXMLEnc, "CarriedKeyName")):
		case what == "EncryptedData" && cd != nil && is(c, NSXMLEnc, "EncryptionProperties"):
		default:
			return nil, nil, fmt.Errorf("%w: <%s> in %s", ErrStructure, c.Tag, what)
		}
	}
	if em == nil || cd == nil {
		return nil, nil, fmt.Errorf("%w: %s without EncryptionMethod or CipherData", ErrStructure, what)
	}
	kids := cd.ChildElements()
	if len(kids) != 1 || !is(kids[0], NSXMLEnc, "CipherValue") {
		return nil, nil, fmt.Errorf("%w: %s's CipherData is not one CipherValue", ErrStructure, what)
	}
	return em, ki, nil
}

// checkEncryptedKey holds an EncryptedKey to RSA-OAEP with allowed
// hashes; rsa-1_5 and everything else is refused before any decryption.
func checkEncryptedKey(ek *etree.Element) error {
	em, ki, err := encryptedType(ek, "EncryptedKey")
	if err != nil {
		return err
	}
	alg := em.SelectAttrValue("Algorithm", "")
	switch alg {
	case RSAOAEPMGF1P, RSAOAEP:
	case RSA15:
		return fmt.Errorf("%w: key transport rsa-1_5 (PKCS#1 v1.5, open to Bleichenbacher oracles)", ErrAlgorithm)
	default:
		return fmt.Errorf("%w: key transport %q", ErrAlgorithm, alg)
	}
	seen := map[string]bool{}
	for _, c := range em.ChildElements() {
		a := c.SelectAttrValue("Algorithm", "")
		switch {
		case is(c, NSDSig, "DigestMethod") && !seen["d"]:
			seen["d"] = true
			if !slices.Contains(oaepDigests, a) {
				return fmt.Errorf("%w: RSA-OAEP digest %q", ErrAlgorithm, a)
			}
		case is(c, NSXMLEnc11, "MGF") && !seen["m"] && alg == RSAOAEP:
			seen["m"] = true
			if !slices.Contains(mgfs, a) {
				return fmt.Errorf("%w: RSA-OAEP mask generation %q", ErrAlgorithm, a)
			}
		case is(c, NSXMLEnc, "OAEPparams") && !seen["p"]:
			seen["p"] = true
		default:
			return fmt.Errorf("%w: <%s> in the key's EncryptionMethod", ErrStructure, c.Tag)
		}
	}
	if ki != nil {
		for _, c := range ki.ChildElements() {
			if c.NamespaceURI() != NSDSig {
				return fmt.Errorf("%w: <%s> in EncryptedKey's KeyInfo", ErrStructure, c.Tag)
			}
		}
	}
	return nil
}

// decryptAssertion decrypts an EncryptedAssertion with the first of
// v.DecryptionKeys that unwraps its key (returned too), and parses the
// result under the rules of Parse (one level less deep: it goes inside
// the Response). Every failure after the checks of encryptedParts is
// ErrDecrypt, whatever the cause (no key, a GCM tag, CBC padding, what
// came out): what a sender of crafted ciphertexts sees is the same
// refusal; the log has the detail.
func (v *Verifier) decryptAssertion(ea *etree.Element) (*etree.Element, *rsa.PrivateKey, error) {
	a, used, err := v.decryptElement(ea, 1)
	if err != nil {
		return nil, nil, err
	}
	if !is(a, NSAssertion, "Assertion") {
		return nil, nil, fmt.Errorf("%w: the plaintext is <%s>, not a saml:Assertion declaring its namespace", ErrDecrypt, a.Tag)
	}
	return a, used, nil
}

// errNotOurs marks an ErrDecrypt where no key of idphooks unwraps any
// EncryptedKey: the element was encrypted to someone else.
var errNotOurs = errors.New("no decryption key of idphooks unwraps its key (encrypted to another certificate?)")

// decryptElement decrypts an element of saml-core's EncryptedElementType
// (its checks: encryptedParts) with the first of v.DecryptionKeys that
// unwraps its key (returned too), and parses the plaintext under the
// rules of Parse, depth levels less deep (where it goes in the message),
// returning its root detached from any document. The AES-GCM tag is
// checked (crewjam's xmlenc opens with crypto/cipher's AEAD, which fails
// on a wrong or short tag: the CVE-2026-32313 shape is refused).
func (v *Verifier) decryptElement(enc *etree.Element, depth int) (*etree.Element, *rsa.PrivateKey, error) {
	ed, eks, err := encryptedParts(enc)
	if err != nil {
		return nil, nil, err
	}
	var cek []byte
	var used *rsa.PrivateKey
	for _, ek := range eks {
		for _, key := range v.candidates(ek) {
			if k, err := xmlenc.Decrypt(key, ek); err == nil {
				cek, used = k, key
				break
			}
		}
		if cek != nil {
			break
		}
	}
	if cek == nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrDecrypt, enc.Tag, errNotOurs)
	}
	// The content key is known: the data is decrypted without its
	// KeyInfo, so that xmlenc reads no key from the document.
	data := ed.Copy()
	if ki := child(data, NSDSig, "KeyInfo"); ki != nil {
		data.RemoveChild(ki)
	}
	plain, err := xmlenc.Decrypt(cek, data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrDecrypt, enc.Tag, err)
	}
	max := v.MaxDepth
	if max <= 0 {
		max = DefaultMaxDepth
	}
	if max-depth < 1 {
		return nil, nil, fmt.Errorf("%w: %s nested too deep to decrypt", ErrTooDeep, enc.Tag)
	}
	doc, err := Parse(plain, max-depth)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the plaintext of %s: %w", ErrDecrypt, enc.Tag, err)
	}
	el := doc.Root()
	doc.RemoveChild(el)
	return el, used, nil
}

// candidates are the decryption keys to try on ek: the one its KeyInfo
// names by certificate, when it names one of ours; otherwise all.
func (v *Verifier) candidates(ek *etree.Element) []*rsa.PrivateKey {
	var certEl *etree.Element
	if ki := child(ek, NSDSig, "KeyInfo"); ki != nil {
		if xd := child(ki, NSDSig, "X509Data"); xd != nil {
			certEl = child(xd, NSDSig, "X509Certificate")
		}
	}
	if certEl == nil {
		return v.DecryptionKeys
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(certEl.Text()), ""))
	if err != nil {
		return nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil
	}
	for _, k := range v.DecryptionKeys {
		if k.PublicKey.Equal(pub) {
			return []*rsa.PrivateKey{k}
		}
	}
	// Encrypted to someone else's certificate (another recipient of the
	// same assertion): not ours to try.
	return nil
}

// verifyEncrypted is VerifyDocument for a Response whose assertion came
// encrypted; s surveyed it as it came. A Response signature is checked
// first, on the document as it came (it covers the EncryptedAssertion),
// and the EncryptedAssertion of the element goxmldsig returned is the one
// decrypted, into the envelope as it came. The whole document, envelope and decrypted assertion, is
// then held to the rules of a clear one (IDs unique across both, one
// assertion, signatures in place), the assertion's own signature is
// verified on the assertion as the IdP encrypted it, and one of the two
// signatures must be there.
func (v *Verifier) verifyEncrypted(doc *etree.Document, s survey) (*Response, error) {
	root := doc.Root()
	ea := s.encrypted[0]
	if ea.Parent() != root {
		return nil, fmt.Errorf("%w: EncryptedAssertion not a child of the Response", ErrWrapping)
	}
	if root.SelectAttrValue("ID", "") == "" {
		return nil, fmt.Errorf("%w: Response without ID", ErrStructure)
	}
	if status := statusOf(root); status.Code != StatusSuccess {
		return nil, fmt.Errorf("%w: %s Response with an assertion", ErrStructure, status.Code)
	}
	allowed := v.allowed()
	var placed Placement
	for _, sig := range s.signatures {
		if parent := sig.Parent(); parent != root {
			return nil, fmt.Errorf("%w: Signature inside <%s>", ErrWrapping, parent.Tag)
		}
		if placed != 0 {
			return nil, fmt.Errorf("%w: two Signatures on the response", ErrWrapping)
		}
		placed = SignedResponse
		if err := checkSignature(sig, root, allowed); err != nil {
			return nil, err
		}
	}
	vctx := v.validationContext()
	if placed != 0 {
		// The envelope stays as it came, which is what was signed (see
		// VerifyDocument); the EncryptedAssertion decrypted is the one
		// goxmldsig verified.
		vr, err := validated(vctx, root, "Response")
		if err != nil {
			return nil, err
		}
		ea = nil
		for _, c := range vr.ChildElements() {
			switch {
			case is(c, NSAssertion, "Assertion"), is(c, NSAssertion, "EncryptedAssertion") && ea != nil:
				return nil, fmt.Errorf("%w: verified Response holds another assertion", ErrWrapping)
			case is(c, NSAssertion, "EncryptedAssertion"):
				ea = c
			}
		}
		if ea == nil {
			return nil, fmt.Errorf("%w: verified Response holds no EncryptedAssertion", ErrWrapping)
		}
	}
	a, used, err := v.decryptAssertion(ea)
	if err != nil {
		return nil, err
	}
	i := s.encrypted[0].Index()
	root.RemoveChildAt(i)
	root.InsertChildAt(i, a)
	// Parse bounded the envelope and the plaintext apart; signing the
	// Response canonicalizes them together.
	if err := checkNamespaceScope(root, 0); err != nil {
		return nil, fmt.Errorf("%w (once decrypted)", err)
	}

	all := survey{ids: map[string]bool{}}
	if err := all.walk(root, 0); err != nil {
		return nil, err
	}
	if len(all.assertions) != 1 || len(all.encrypted) != 0 {
		return nil, fmt.Errorf("%w: %d assertions and %d encrypted ones once decrypted", ErrWrapping, len(all.assertions), len(all.encrypted))
	}
	if a.SelectAttrValue("ID", "") == "" {
		return nil, fmt.Errorf("%w: Assertion without ID", ErrStructure)
	}
	for _, sig := range all.signatures {
		switch parent := sig.Parent(); {
		case parent == root && placed&SignedResponse != 0:
			// The one verified above.
		case parent == a && placed&SignedAssertion == 0:
			placed |= SignedAssertion
			if err := checkSignature(sig, a, allowed); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: Signature inside <%s> of the decrypted response", ErrWrapping, parent.Tag)
		}
	}
	if placed == 0 {
		return nil, ErrUnsigned
	}
	if placed&SignedAssertion != 0 {
		// Alone, as the IdP serialized it before encrypting (and as SPs
		// verify it), not in the namespace context of our envelope; kept
		// as it came, as VerifyDocument keeps a clear one.
		if err := validate(vctx, a.Copy(), "Assertion"); err != nil {
			return nil, err
		}
	}
	stripUnsigned(root)
	r := &Response{doc: doc, root: root, assertion: a, Signed: placed, Encrypted: true, decryptedWith: used}
	if r.parts, err = v.open(root, a); err != nil {
		return nil, err
	}
	if err := r.normalizeTypePrefixes(all.typeNS); err != nil {
		return nil, err
	}
	return r, nil
}
