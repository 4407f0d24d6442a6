package saml

// Findings of an attack review of the Verifier and Signer called
// directly (no page, no binding), each with its fix; attack_test.go has
// those on the whole path.

import (
	"bytes"
	"crypto"
	_ "crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// wideDeclarations declares n unused prefixes, for a start tag.
func wideDeclarations(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(` xmlns:q` + strings.Repeat("x", i+1) + `="urn:q"`)
	}
	return b.String()
}

// TestVerifierWideNamespaces: the namespace bound held only where the
// interceptor called it after Parse (POST page, Redirect, publish), so a
// decrypted assertion, metadata read for its certificates and any caller
// of Verify or VerifyLogout went to goxmldsig with any number of
// declarations in scope (30 000 unused prefixes: 4 s, 1.7 GB). Parse
// bounds them now, for every path.
func TestVerifierWideNamespaces(t *testing.T) {
	over := wideDeclarations(maxNamespacesInScope + 1)
	signed := idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3")
	// Exclusive C14N leaves the unused prefixes out of the digest: each
	// of these verifies but for the bound.
	wideEnvelope := strings.Replace(signed, "<samlp:Response ", "<samlp:Response"+over+" ", 1)
	wideAssertion := strings.Replace(signed, "<saml:Assertion ", "<saml:Assertion"+over+" ", 1)
	h, _ := encKeys()
	wideDecrypted := encryptWith(t, wideAssertion, h.cert, keycloakEncryption())
	if strings.Contains(wideDecrypted, "xmlns:qx=") {
		t.Fatal("the declarations are not inside the ciphertext")
	}
	// The envelope and the plaintext within the bound apart, over it
	// together.
	half := wideDeclarations(maxNamespacesInScope/2 + 1)
	halfAssertion := strings.Replace(signed, "<saml:Assertion ", "<saml:Assertion"+half+" ", 1)
	halves := strings.Replace(encryptWith(t, halfAssertion, h.cert, keycloakEncryption()), "<samlp:Response ", "<samlp:Response"+half+" ", 1)

	for name, x := range map[string]string{"envelope": wideEnvelope, "assertion": wideAssertion} {
		if _, err := verifier().Verify([]byte(x)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Verify, declarations on the %s: %v, want ErrTooLarge", name, err)
		}
	}
	if _, err := encVerifier().Verify([]byte(wideDecrypted)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify, declarations in the decrypted assertion: %v, want ErrTooLarge", err)
	}
	if _, err := encVerifier().Verify([]byte(halves)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify, half in the envelope and half in the decrypted assertion: %v, want ErrTooLarge", err)
	}
	wideLogout := strings.Replace(keycloakLogoutRequest(), "<samlp:LogoutRequest ", "<samlp:LogoutRequest"+over+" ", 1)
	if _, err := verifier().VerifyLogout([]byte(wideLogout), true); !errors.Is(err, ErrTooLarge) {
		t.Errorf("VerifyLogout: %v, want ErrTooLarge", err)
	}
	md := strings.Replace(idpMetadataXML(), "<md:EntityDescriptor ", "<md:EntityDescriptor"+over+" ", 1)
	if _, err := ParseIdPMetadata([]byte(md)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseIdPMetadata: %v, want ErrTooLarge", err)
	}
	// In scope: declarations on ancestors count, siblings' do not.
	nested := `<a` + wideDeclarations(40) + `><b` + strings.ReplaceAll(wideDeclarations(25), "xmlns:q", "xmlns:r") + `/></a>`
	if _, err := Parse([]byte(nested), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("40 on a parent and 25 on its child: %v, want ErrTooLarge", err)
	}
	siblings := `<a>` + strings.Repeat(`<b`+wideDeclarations(maxNamespacesInScope)+`/>`, 3) + `</a>`
	if _, err := Parse([]byte(siblings), 0); err != nil {
		t.Errorf("%d on each of three siblings: %v", maxNamespacesInScope, err)
	}
	// What IdPs send stays accepted.
	if _, err := verifier().Verify([]byte(signed)); err != nil {
		t.Errorf("Keycloak's shape: %v", err)
	}
	if _, err := encVerifier().Verify([]byte(encryptWith(t, signed, h.cert, keycloakEncryption()))); err != nil {
		t.Errorf("Keycloak's shape, encrypted: %v", err)
	}
}

// withCR is what an IdP sends for a document holding carriage returns
// (written &#13; in what idpSign reads): idpSign (etree's default writer)
// writes them raw, which parsers read as line feeds; IdPs write &#13;.
func withCR(signed string) string { return strings.ReplaceAll(signed, "\r", "&#13;") }

// independentlyVerified parses out as an SP does (etree, so encoding/xml
// with its line-end handling) and has goxmldsig verify the element with
// the given ID against idphooks' certificate, returning that element.
func independentlyVerified(t *testing.T, out []byte, id string) *etree.Element {
	t.Helper()
	_, h := keys()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil {
		t.Fatal(err)
	}
	el := doc.FindElement(fmt.Sprintf("//[@ID='%s']", id))
	if el == nil {
		t.Fatalf("no element %s in\n%s", id, out)
	}
	det, err := etreeNSParent(el)
	if err != nil {
		t.Fatal(err)
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{h.cert}})
	got, err := vctx.Validate(det)
	if err != nil {
		t.Fatalf("<%s> %s does not verify as sent: %v\n%q", el.Tag, id, err, out)
	}
	return got
}

// TestSignerCarriageReturns: a CR in a text or attribute value (&#13;
// from the IdP, a hook's "\r") was written raw, so the SP's parser read
// LF where idphooks had signed CR and the signature failed there. What
// idphooks signs is now written with C14N's escapes.
func TestSignerCarriageReturns(t *testing.T) {
	x := keycloakResponse(keycloakAssertion("alice", 0))
	x = strings.Replace(x, kcValue("alice@example.com"), kcValue("alice@example.com&#13;"), 1)
	x = strings.Replace(x, `FriendlyName="email"`, `FriendlyName="e&#13;mail"`, 1)
	up := withCR(idpSign(t, x, "dsig", "ID_a1b2c3", "ID_r9f8e7"))
	ops := []sandbox.Op{{Object: "assertion", Method: "setAttribute", Args: []any{"tier", []any{"gold\r\nplus", "a\rb"}}}}
	hooked := func(t *testing.T, ops []sandbox.Op) *Response {
		t.Helper()
		r, err := verifier().Verify([]byte(up))
		if err != nil {
			t.Fatalf("the premise: the IdP's document verifies: %v", err)
		}
		if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
			t.Fatal(err)
		}
		return r
	}
	values := func(a *etree.Element) []string {
		var vs []string
		for _, v := range a.FindElements("//AttributeValue") {
			vs = append(vs, v.Text())
		}
		return vs
	}
	t.Run("response", func(t *testing.T) {
		out, err := signer().Sign(hooked(t, ops))
		if err != nil {
			t.Fatal(err)
		}
		independentlyVerified(t, out, "ID_r9f8e7")
		a := independentlyVerified(t, out, "ID_a1b2c3")
		if vs := values(a); !slices.Contains(vs, "alice@example.com\r") || !slices.Contains(vs, "gold\r\nplus") || !slices.Contains(vs, "a\rb") {
			t.Errorf("the SP reads %q", vs)
		}
		if f := a.FindElement("//Attribute[@Name='email']").SelectAttrValue("FriendlyName", ""); f != "e\rmail" {
			t.Errorf("the SP reads FriendlyName %q", f)
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		_, sp := encKeys()
		r := hooked(t, ops)
		r.EncryptTo = &Encryption{Certificate: sp.cert}
		out, err := signer().Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		acceptedByEncSP(t, out)
		// crewjam reads values through a second, raw serialization of
		// its own: the decrypted plaintext is read here.
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(out); err != nil {
			t.Fatal(err)
		}
		plain, err := xmlenc.Decrypt(sp.key, doc.FindElement("//EncryptedData"))
		if err != nil {
			t.Fatal(err)
		}
		if vs := values(independentlyVerified(t, plain, "ID_a1b2c3")); !slices.Contains(vs, "alice@example.com\r") || !slices.Contains(vs, "gold\r\nplus") {
			t.Errorf("the SP decrypts %q", vs)
		}
	})
	t.Run("denial", func(t *testing.T) {
		out, err := signer().Deny(hooked(t, nil), "no\rentry")
		if err != nil {
			t.Fatal(err)
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(out); err != nil {
			t.Fatal(err)
		}
		if got := independentlyVerified(t, out, doc.Root().SelectAttrValue("ID", "")).FindElement("//StatusMessage").Text(); got != "no\rentry" {
			t.Errorf("the SP reads StatusMessage %q", got)
		}
	})
	t.Run("logout", func(t *testing.T) {
		lr := strings.Replace(keycloakLogoutRequest(), "alice@example.com", "alice@example.com&#13;", 1)
		l, err := verifier().VerifyLogout([]byte(withCR(idpSign(t, lr, "dsig", kcRequestID))), false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		if got := independentlyVerified(t, out, kcRequestID).FindElement("//NameID").Text(); got != "alice@example.com\r" {
			t.Errorf("the SP reads NameID %q", got)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		// Re-signed because the IdP's was signed.
		md := strings.Replace(idpMetadataXML(), `entityID=`, `ID="md1" entityID=`, 1)
		md = strings.Replace(md, `</md:IDPSSODescriptor>`, `</md:IDPSSODescriptor><md:Organization><md:OrganizationName xml:lang="e&#13;n">Acme&#13;</md:OrganizationName>`+
			`<md:OrganizationDisplayName xml:lang="en">Acme</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">http://acme.test</md:OrganizationURL></md:Organization>`, 1)
		md = withCR(idpSign(t, md, "ds", "md1"))
		_, hk := keys()
		out, err := PublishIdPMetadata([]byte(md), PublishOptions{Signing: []*x509.Certificate{hk.cert}, Signer: signer()})
		if err != nil {
			t.Fatal(err)
		}
		if got := independentlyVerified(t, out, "md1").FindElement("//OrganizationName").Text(); got != "Acme\r" {
			t.Errorf("the SP reads OrganizationName %q", got)
		}
	})
	t.Run("attribute whitespace", func(t *testing.T) {
		// A tab or line feed in an attribute value is escaped too:
		// parsers normalizing attribute values read them as spaces.
		out, err := signer().Sign(hooked(t, []sandbox.Op{{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "x", map[string]any{"friendlyName": "a\tb\nc"}}}}))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`FriendlyName="a&#x9;b&#xA;c"`)) {
			t.Errorf("FriendlyName with a tab and a line feed written raw:\n%s", out)
		}
	})
}

// refDigest is the DigestValue a signer computes with h for el (see
// advDigest).
func refDigest(t testing.TB, el *etree.Element, h crypto.Hash) string {
	t.Helper()
	det, err := etreeNSParent(el)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range det.ChildElements() {
		if c.Tag == "Signature" {
			det.RemoveChild(c)
		}
	}
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(det)
	if err != nil {
		t.Fatal(err)
	}
	d := h.New()
	d.Write(canon)
	return base64.StdEncoding.EncodeToString(d.Sum(nil))
}

// TestVerifierRepeatedSignedInfoParts: checkSignature read a Reference's
// first DigestMethod, goxmldsig (encoding/xml into a struct) its last, so
// a SHA-1 digest passed an allow-list without SHA-1; a second
// DigestValue, one in another namespace (encoding/xml matches a string
// field by local name) or a second Transforms were not looked at either.
// A Reference is now exactly one DigestMethod, one DigestValue and at
// most one Transforms, all XML DSig; a SignedInfo has one SignatureMethod
// and one CanonicalizationMethod.
func TestVerifierRepeatedSignedInfoParts(t *testing.T) {
	idp, _ := keys()
	mk := func(tag string, attrs ...string) *etree.Element {
		el := etree.NewElement(tag)
		el.Space = "dsig"
		for i := 0; i+1 < len(attrs); i += 2 {
			el.CreateAttr(attrs[i], attrs[i+1])
		}
		return el
	}
	// reshape changes the Assertion's Reference (or SignedInfo) and
	// re-signs the SignedInfo with the IdP's key: the IdP's signature over
	// that shape.
	reshape := func(f func(a, si, ref *etree.Element)) string {
		doc := advDoc(t, kcSigned(t, SignedAssertion))
		a, sig := advAssertion(t, doc)
		si := child(sig, NSDSig, "SignedInfo")
		f(a, si, child(si, NSDSig, "Reference"))
		advResign(t, sig, idp)
		return advString(t, doc)
	}
	cases := map[string]struct {
		xml  string
		want error
	}{
		"SHA-256 DigestMethod, then SHA-1 and its digest": {reshape(func(a, _, ref *etree.Element) {
			dm := child(ref, NSDSig, "DigestMethod")
			ref.InsertChildAt(dm.Index()+1, mk("DigestMethod", "Algorithm", DigestSHA1))
			child(ref, NSDSig, "DigestValue").SetText(refDigest(t, a, crypto.SHA1))
		}), ErrWrapping},
		"two DigestValues": {reshape(func(_, _, ref *etree.Element) {
			dv := child(ref, NSDSig, "DigestValue")
			ref.InsertChildAt(dv.Index(), mk("DigestValue"))
			ref.ChildElements()[dv.Index()-1].SetText(base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}), ErrWrapping},
		"the DigestValue in another namespace last": {reshape(func(_, _, ref *etree.Element) {
			dv := child(ref, NSDSig, "DigestValue")
			x := etree.NewElement("x:DigestValue")
			x.CreateAttr("xmlns:x", "urn:x")
			x.SetText(dv.Text())
			dv.SetText(base64.StdEncoding.EncodeToString(make([]byte, 32)))
			ref.AddChild(x)
		}), ErrWrapping},
		"two Transforms": {reshape(func(_, _, ref *etree.Element) {
			ts := mk("Transforms")
			ts.AddChild(mk("Transform", "Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116"))
			ref.InsertChildAt(child(ref, NSDSig, "Transforms").Index()+1, ts)
		}), ErrWrapping},
		"no DigestValue": {reshape(func(_, _, ref *etree.Element) {
			ref.RemoveChild(child(ref, NSDSig, "DigestValue"))
		}), ErrStructure},
		"two SignatureMethods, SHA-1 last": {reshape(func(_, si, _ *etree.Element) {
			sm := child(si, NSDSig, "SignatureMethod")
			si.InsertChildAt(sm.Index()+1, mk("SignatureMethod", "Algorithm", RSASHA1))
		}), ErrWrapping},
		"two CanonicalizationMethods": {reshape(func(_, si, _ *etree.Element) {
			cm := child(si, NSDSig, "CanonicalizationMethod")
			si.InsertChildAt(cm.Index()+1, mk("CanonicalizationMethod", "Algorithm", string(dsig.CanonicalXML10RecAlgorithmId)))
		}), ErrWrapping},
	}
	advRefused(t, cases)
	// The premise of the first case: with SHA-1 allowed, goxmldsig
	// verifies the SHA-1 digest of a Reference holding only that method.
	sha1Only := reshape(func(a, _, ref *etree.Element) {
		child(ref, NSDSig, "DigestMethod").CreateAttr("Algorithm", DigestSHA1)
		child(ref, NSDSig, "DigestValue").SetText(refDigest(t, a, crypto.SHA1))
	})
	v := verifier()
	v.Algorithms = append(DefaultAlgorithms(), DigestSHA1)
	if _, err := v.Verify([]byte(sha1Only)); err != nil {
		t.Errorf("a SHA-1 digest with SHA-1 allowed: %v", err)
	}
	if _, err := verifier().Verify([]byte(sha1Only)); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("a SHA-1 digest by default: %v, want ErrAlgorithm", err)
	}
}

// TestVerifierPrefixedIDs: the duplicate-ID survey counted unprefixed ID
// attributes only, while goxmldsig finds an element's ID with etree's
// SelectAttr("ID"), which matches x:ID (and xmlns:ID) too: a decoy with
// x:ID set to the signed Assertion's ID passed. IDs are counted by local
// name now, and an element with two ID attributes (which one a reader
// takes differs) is refused.
func TestVerifierPrefixedIDs(t *testing.T) {
	// The premise: etree (so goxmldsig) reads a prefixed ID as the ID.
	el := etree.NewElement("a")
	el.CreateAttr("x:ID", "ID_a1b2c3")
	if el.SelectAttrValue("ID", "") != "ID_a1b2c3" {
		t.Fatal("etree no longer matches ID under a prefix: revisit isIDAttr")
	}
	signed := kcSigned(t, SignedAssertion)
	decoy := func(attrs string) string {
		return strings.Replace(signed, "<samlp:Status>", `<samlp:Extensions><x:Decoy xmlns:x="urn:x"`+attrs+`/></samlp:Extensions><samlp:Status>`, 1)
	}
	if _, err := verifier().Verify([]byte(decoy(` x:Note="n"`))); err != nil {
		t.Fatalf("the premise: an Extensions element is accepted: %v", err)
	}
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"a decoy with x:ID of the Assertion":     {decoy(` x:ID="ID_a1b2c3"`), ErrWrapping},
		"a decoy with xmlns:ID of the Response":  {decoy(` xmlns:ID="ID_r9f8e7"`), ErrWrapping},
		"an element with ID and x:ID":            {decoy(` x:ID="ID_d1" ID="ID_d2"`), ErrWrapping},
		"a prefixed ID repeating a prefixed one": {strings.Replace(decoy(` x:ID="ID_d1"`), "<samlp:Status>", `<x:More xmlns:x="urn:x" x:ID="ID_d1"/><samlp:Status>`, 1), ErrWrapping},
	})
	// Published metadata: an element holding the root's ID under a prefix
	// makes the ID not unique.
	md := strings.Replace(idpMetadataXML(), `entityID=`, `ID="md1" entityID=`, 1)
	md = strings.Replace(md, `<md:SingleLogoutService `, `<md:SingleLogoutService xmlns:x="urn:x" x:ID="md1" `, 1)
	md = strings.Replace(md, `</md:IDPSSODescriptor>`, `</md:IDPSSODescriptor><ds:Signature/>`, 1)
	_, hk := keys()
	if _, err := PublishIdPMetadata([]byte(md), PublishOptions{Signing: []*x509.Certificate{hk.cert}, Signer: signer()}); !errors.Is(err, ErrWrapping) {
		t.Errorf("metadata with x:ID repeating its ID: %v, want ErrWrapping", err)
	}
}
