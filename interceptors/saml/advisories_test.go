package saml

// The advisory corpus: the shapes of the recent SAML and XML signature
// advisories, read from the advisories and the projects' fixes and tests,
// each modelled as inputs through the Verifier (and, where the bypass is
// about what an SP reads, through what idphooks passes on). Which test
// covers which advisory:
//
//	goxmldsig CVE-2026-33487 (GHSA-479m-364c-43vc)   TestAdvisoryGoxmldsigRelease, TestAdvisoryGoxmldsigReferences
//	goxmldsig canonicalization DoS (GHSA-qhrp-hfff-vphr) TestAdvisoryGoxmldsigRelease, TestAdvisoryCanonicalizationDoS
//	ruby-saml CVE-2024-45409                         TestAdvisoryRubySAML45409
//	ruby-saml CVE-2025-25291, CVE-2025-25292         TestAdvisoryRubySAMLParserDifferentials
//	ruby-saml CVE-2025-66567, CVE-2025-66568         TestAdvisoryRubySAMLParserDifferentials (66567), TestAdvisoryVoidCanonicalization (66568)
//	xml-crypto CVE-2025-29774, CVE-2025-29775        TestAdvisoryXMLCrypto
//	samlify CVE-2025-47949                           TestAdvisorySamlify
//	node-saml CVE-2025-54369, CVE-2025-54419         TestAdvisoryNodeSAML
//	xmlseclibs CVE-2026-32313 (encrypt.go is in)     TestAdvisoryXmlseclibsGCMTag
//	signed error Response + decoy signature          TestAdvisorySignedErrorDecoy
//
// The wrapping corpus (wrapping_test.go) holds shorter cases for some of
// these too; these follow each advisory's own proof of concept.

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// advDoc parses xml for a test to reshape.
func advDoc(t testing.TB, xml string) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	return doc
}

func advString(t testing.TB, doc *etree.Document) string {
	t.Helper()
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// advDigest is the SHA-256 DigestValue a signer computes for el: its
// exclusive canonical form, in its namespace context, without its
// enveloped Signature.
func advDigest(t testing.TB, el *etree.Element) string {
	t.Helper()
	det := detach(t, el)
	for _, c := range det.ChildElements() {
		if c.Tag == "Signature" {
			det.RemoveChild(c)
		}
	}
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(det)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// advResign makes sig's SignatureValue kp's signature over its SignedInfo
// as it now stands (exclusive C14N in its namespace context, as goxmldsig
// verifies it): the IdP having signed a SignedInfo of that shape, or an
// attacker holding such a signature, which several advisories assume.
func advResign(t testing.TB, sig *etree.Element, kp keyPair) {
	t.Helper()
	si := child(sig, NSDSig, "SignedInfo")
	det := detach(t, si)
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(det)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	v, err := rsa.SignPKCS1v15(rand.Reader, kp.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	child(sig, NSDSig, "SignatureValue").SetText(base64.StdEncoding.EncodeToString(v))
}

// advAssertion is the signed Assertion of doc and its Signature.
func advAssertion(t testing.TB, doc *etree.Document) (a, sig *etree.Element) {
	t.Helper()
	a = doc.FindElement("//[@ID='ID_a1b2c3']")
	if a == nil {
		t.Fatal("no assertion")
	}
	return a, child(a, NSDSig, "Signature")
}

// advForged is the Keycloak response with its Assertion signed by the IdP
// and then changed to name admin: the signature is the IdP's, over alice.
func advForged(t testing.TB) string {
	return strings.Replace(kcSigned(t, SignedAssertion), ">alice<", ">admin<", 1)
}

// advRefused runs each case through the Verifier and wants its error.
func advRefused(t *testing.T, cases map[string]struct {
	xml  string
	want error
}) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := verifier().Verify([]byte(c.xml))
			if !errors.Is(err, c.want) {
				if err == nil {
					t.Fatalf("accepted, NameID %q; want %v", r.Model().NameID.Value, c.want)
				}
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestAdvisoryGoxmldsigRelease: the goxmldsig this binary is built with
// fixes CVE-2026-33487 (fixed in 1.6.0) and the canonicalization memory
// DoS GHSA-qhrp-hfff-vphr (fixed in 1.6.1).
func TestAdvisoryGoxmldsigRelease(t *testing.T) {
	// The module's requirement (go.mod is what the build resolves from;
	// a test binary's build info lists no dependencies).
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/russellhaering/goxmldsig" {
			if !versionAtLeast(f[1], 1, 6, 1) {
				t.Fatalf("goxmldsig %s: CVE-2026-33487 is fixed in 1.6.0, GHSA-qhrp-hfff-vphr in 1.6.1", f[1])
			}
			return
		}
		if len(f) >= 3 && f[0] == "replace" && f[1] == "github.com/russellhaering/goxmldsig" {
			t.Fatalf("goxmldsig replaced: %s", line)
		}
	}
	t.Fatal("goxmldsig not required in go.mod")
}

func versionAtLeast(v string, major, minor, patch int) bool {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return false
	}
	want := []int{major, minor, patch}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		if n != want[i] {
			return n > want[i]
		}
	}
	return true
}

// TestAdvisoryGoxmldsigReferences: goxmldsig CVE-2026-33487. Its
// validateSignature took the address of the loop variable while looking
// for the Reference to the signed element, so with several References it
// checked the digest of the last one. The advisory's proof of concept: a
// SignedInfo whose first Reference names the element with the digest of
// its original content and whose second names "#dummy" with the digest of
// the content substituted; the signature over that SignedInfo is valid.
func TestAdvisoryGoxmldsigReferences(t *testing.T) {
	idp, _ := keys()
	doc := advDoc(t, advForged(t))
	a, sig := advAssertion(t, doc)
	si := child(sig, NSDSig, "SignedInfo")
	ref := child(si, NSDSig, "Reference") // #ID_a1b2c3, alice's digest
	dummy := ref.Copy()
	dummy.CreateAttr("URI", "#dummy")
	si.InsertChildAt(ref.Index()+1, dummy)
	child(dummy, NSDSig, "DigestValue").SetText(advDigest(t, a)) // admin's digest
	advResign(t, sig, idp)
	x := advString(t, doc)

	// idphooks: one Reference per Signature, or refused before goxmldsig.
	if _, err := verifier().Verify([]byte(x)); !errors.Is(err, ErrWrapping) {
		t.Fatalf("two References: %v, want ErrWrapping", err)
	}
	// And the release in use binds the digest to the first matching
	// Reference: goxmldsig alone refuses the proof of concept.
	d := advDoc(t, x)
	el := d.FindElement("//[@ID='ID_a1b2c3']")
	ctx, _ := etreeutils.NSBuildParentContext(el)
	det, _ := etreeutils.NSDetatch(ctx, el)
	if got, err := verifier().validationContext().Validate(det); err == nil {
		t.Fatalf("goxmldsig validated the substituted content: %s", text(got.FindElement(".//NameID")))
	}
	// The same SignedInfo with the dummy Reference first: still refused by
	// idphooks (the shape, whatever the order).
	si.RemoveChild(dummy)
	si.InsertChildAt(ref.Index(), dummy)
	advResign(t, sig, idp)
	if _, err := verifier().Verify([]byte(advString(t, doc))); !errors.Is(err, ErrWrapping) {
		t.Fatalf("dummy Reference first: %v, want ErrWrapping", err)
	}
}

// allocated is the memory f allocates and the time it takes.
func allocated(f func()) (uint64, time.Duration) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	f()
	d := time.Since(start)
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc, d
}

// TestAdvisoryCanonicalizationDoS: goxmldsig GHSA-qhrp-hfff-vphr. Before
// 1.6.1, canonicalizing a SignedInfo (inclusive C14N above all) cost
// memory quadratic in its depth: "a ~60 KB request can exhaust memory",
// the fix's test nesting 5000 levels. Modelled: that depth, refused by
// Parse; the deepest nesting Parse allows, inside a SignedInfo declared
// inclusive, refused at a bounded cost; and the same cost by breadth (the
// namespaces in scope goxmldsig copies at each element), which the
// interceptor refuses before verifying.
func TestAdvisoryCanonicalizationDoS(t *testing.T) {
	sa := kcSigned(t, SignedAssertion)
	nest := func(n int) string { return strings.Repeat("<x:a>", n) + strings.Repeat("</x:a>", n) }
	// The fix's own depth, inside the CanonicalizationMethod of a
	// SignedInfo canonicalized with inclusive C14N.
	inclusive := strings.Replace(sa, `<dsig:CanonicalizationMethod Algorithm="`+nsExcC14N+`"/>`,
		`<dsig:CanonicalizationMethod xmlns:x="urn:x" Algorithm="`+string(dsig.CanonicalXML10RecAlgorithmId)+`">%s</dsig:CanonicalizationMethod>`, 1)
	if !strings.Contains(inclusive, "%s") {
		t.Fatal("no CanonicalizationMethod to replace")
	}
	if _, err := verifier().Verify([]byte(fmt.Sprintf(inclusive, nest(5000)))); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("5000 levels in SignedInfo: %v, want ErrTooDeep", err)
	}
	var err error
	mem, d := allocated(func() {
		_, err = verifier().Verify([]byte(fmt.Sprintf(inclusive, nest(DefaultMaxDepth-12))))
	})
	if err == nil {
		t.Fatal("a SignedInfo changed by nesting verified")
	}
	if mem > 64<<20 || d > 2*time.Second {
		t.Errorf("the deepest SignedInfo Parse allows cost %d MB and %v", mem>>20, d)
	}
	t.Logf("%v; %d MB, %v", err, mem>>20, d)

	// Breadth: 20 000 unused prefixes on the Response (exclusive C14N
	// leaves them out of every digest) over 300 attributes. The
	// interceptor refuses the page before goxmldsig copies them at each
	// element of the Assertion (see attack_test.go for the cost without).
	var decl strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&decl, ` xmlns:q%d="urn:q:%d"`, i, i)
	}
	wide := strings.Replace(idpSign(t, keycloakResponse(keycloakAssertion("alice", 300)), "dsig", "ID_a1b2c3"),
		"<samlp:Response ", "<samlp:Response"+decl.String()+" ", 1)
	h := newHarness(t, "", func(c *Config) { c.MaxBody = 4 << 20 })
	h.page = serve("text/html", postPage(wide, ""))
	var code int
	mem, d = allocated(func() { code = h.do(t, "POST", "/x").Code })
	if code != http.StatusBadGateway {
		t.Fatalf("%d, want 502", code)
	}
	if mem > 256<<20 || d > 2*time.Second {
		t.Errorf("20 000 namespace declarations cost %d MB and %v before the refusal", mem>>20, d)
	}
	if err := checkNamespaceScope(advDoc(t, wide).Root(), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("checkNamespaceScope: %v", err)
	}
	if err := checkNamespaceScope(advDoc(t, simpleSAMLphpResponse()).Root(), 0); err != nil {
		t.Errorf("SimpleSAMLphp's shape: %v", err)
	}
}

// TestAdvisoryRubySAML45409: ruby-saml CVE-2024-45409. Its digest check
// read the Reference, DigestValue, DigestMethod and transforms with
// absolute XPaths ("//ds:DigestValue"), so the first DigestValue in the
// document won, and the signed element was the first "//*[@ID=$id]". The
// fix (4865d03) reads them relative to the SignedInfo and refuses an ID
// found twice. Modelled: an assertion changed after the IdP signed it,
// its SignedInfo intact, with a DigestValue (or a whole Reference) of the
// changed content placed first in the document; and the signed original
// kept first under the same ID.
func TestAdvisoryRubySAML45409(t *testing.T) {
	forged := advForged(t)
	a, _ := advAssertion(t, advDoc(t, forged))
	digest := advDigest(t, a)
	ns := ` xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`
	status := `<samlp:Status>`
	decoyValue := `<samlp:Extensions><ds:DigestValue` + ns + `>` + digest + `</ds:DigestValue></samlp:Extensions>`
	decoyRef := `<samlp:Extensions><ds:Reference` + ns + ` URI="#ID_a1b2c3"><ds:DigestMethod Algorithm="` + DigestSHA256 + `"/><ds:DigestValue>` + digest + `</ds:DigestValue></ds:Reference></samlp:Extensions>`
	orig := reAssertion.FindString(kcSigned(t, SignedAssertion))
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"decoy DigestValue first in the document": {strings.Replace(forged, status, decoyValue+status, 1), ErrSignature},
		"decoy Reference first in the document":   {strings.Replace(forged, status, decoyRef+status, 1), ErrSignature},
		"decoy DigestValue inside the Assertion":  {strings.Replace(forged, "<saml:Subject>", "<saml:Subject><ds:DigestValue"+ns+">"+digest+"</ds:DigestValue>", 1), ErrSignature},
		"signed original first under the same ID": {strings.Replace(forged, status, "<samlp:Extensions>"+orig+"</samlp:Extensions>"+status, 1), ErrWrapping},
	})
}

// TestAdvisoryRubySAMLParserDifferentials: ruby-saml CVE-2025-25291 and
// CVE-2025-25292 (fixed in 1.18.0 by e9c1cdb), and CVE-2025-66567, the
// incomplete fix of 25292. ruby-saml verified with Nokogiri (libxml2) and
// read with REXML, and the two parsers built different trees from one
// document: from a DOCTYPE whose ATTLIST default holds "]>" (REXML ends
// the DOCTYPE there and sees the rest as elements), and from namespace
// handling (REXML taking xml:xmlns, or a prefixed ID beside ID, otherwise
// than libxml2). idphooks has one parser, refuses every markup
// declaration before it parses, and verifies and reads the same element.
func TestAdvisoryRubySAMLParserDifferentials(t *testing.T) {
	sa := kcSigned(t, SignedAssertion)
	forged := advForged(t)
	orig := reAssertion.FindString(sa)
	evil := stripSig(evilAssertion(sa))
	sigOpen := `<dsig:Signature xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">`
	if !strings.Contains(sa, sigOpen) {
		t.Fatal("signature shape changed")
	}
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		// 25291: the ATTLIST default swallows, for one parser, what the
		// other reads as the start of the document.
		"25291 ATTLIST holding ]>": {`<!DOCTYPE samlp:Response [<!ATTLIST saml:Assertion x CDATA "]><samlp:Response>` + evil + `">]>` + sa, ErrDoctype},
		// 25292: an internal entity one parser expands and the other keeps.
		"25292 entity in NameID": {`<!DOCTYPE r [<!ENTITY e "admin">]>` + strings.Replace(sa, ">alice<", ">&e;<", 1), ErrDoctype},
		// 25292/66567: the Signature's prefix bound by xml:xmlns, which is
		// no declaration: to a namespace-aware reader there is no
		// Signature, so nothing is signed.
		"66567 xml:xmlns binding the Signature prefix": {strings.Replace(sa, sigOpen, `<dsig:Signature xml:xmlns="http://www.w3.org/2000/09/xmldsig#">`, 1), ErrUnsigned},
		// 66567: attribute pollution, a prefixed ID beside ID, read by a
		// namespace-blind getter: the forged assertion claims the signed
		// one's ID first. Refused before goxmldsig: two ID attributes.
		"66567 samlp:ID beside ID": {strings.Replace(forged, `<saml:Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="ID_a1b2c3"`, `<saml:Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" samlp:ID="ID_a1b2c3" ID="ID_evil"`, 1), ErrWrapping},
		// The two trees: one parser seeing the signed original, the other
		// the forged one beside it.
		"two assertions": {strings.Replace(sa, orig, orig+evil, 1), ErrWrapping},
	})
}

// TestAdvisoryVoidCanonicalization: ruby-saml CVE-2025-66568 (the
// canonicalization one; xmlseclibs has its twin). A namespace declared
// with a relative URI made libxml2's canonicalizer fail, ruby-saml took
// the empty string it returned, and the digest (or, for SignedInfo, the
// signed hash) was that of nothing: a DigestValue of SHA-256("") and a
// signature over SHA-256("") (one an attacker can find among an IdP's
// signed documents) passed for any content. goxmldsig canonicalizes
// relative namespace URIs like any other, so neither is over nothing.
func TestAdvisoryVoidCanonicalization(t *testing.T) {
	idp, _ := keys()
	empty := sha256.Sum256(nil)
	emptyDigest := base64.StdEncoding.EncodeToString(empty[:])
	emptySig, err := rsa.SignPKCS1v15(rand.Reader, idp.key, crypto.SHA256, empty[:])
	if err != nil {
		t.Fatal(err)
	}

	// The digest of nothing on an assertion declaring a relative URI,
	// its SignedInfo signed.
	doc := advDoc(t, advForged(t))
	a, sig := advAssertion(t, doc)
	a.CreateAttr("xmlns:v", "relative")
	child(child(child(sig, NSDSig, "SignedInfo"), NSDSig, "Reference"), NSDSig, "DigestValue").SetText(emptyDigest)
	advResign(t, sig, idp)
	voidDigest := advString(t, doc)

	// The signature of nothing on a SignedInfo declaring one.
	doc = advDoc(t, advForged(t))
	_, sig = advAssertion(t, doc)
	child(sig, NSDSig, "SignedInfo").CreateAttr("xmlns:v", "relative")
	child(sig, NSDSig, "SignatureValue").SetText(base64.StdEncoding.EncodeToString(emptySig))
	voidSignedInfo := advString(t, doc)

	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"digest of nothing":    {voidDigest, ErrSignature},
		"signature of nothing": {voidSignedInfo, ErrSignature},
	})
}

// TestAdvisoryXMLCrypto: xml-crypto CVE-2025-29774 and CVE-2025-29775
// (fixed in 6.0.1 by 055c5dd, whose test documents these are modelled on).
// 29774: a Signature with two SignedInfo, one checked against the
// SignatureValue and the other's References used, side by side or the
// second wrapped in an element of the attacker's. 29775: the DigestValue
// read from a comment inside it (<!--forged-->original), while
// canonicalization, dropping the comment, kept the SignatureValue valid.
func TestAdvisoryXMLCrypto(t *testing.T) {
	forged := advForged(t)
	a, _ := advAssertion(t, advDoc(t, forged))
	digest := advDigest(t, a)
	si := regexpFind(forged, `(?s)<dsig:SignedInfo>.*?</dsig:SignedInfo>`)
	evilSI := regexpReplace(si, `<dsig:DigestValue>[^<]*</dsig:DigestValue>`, "<dsig:DigestValue>"+digest+"</dsig:DigestValue>")
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"29774 second SignedInfo":         {strings.Replace(forged, si, si+evilSI, 1), ErrWrapping},
		"29774 second SignedInfo first":   {strings.Replace(forged, si, evilSI+si, 1), ErrWrapping},
		"29774 SignedInfo in a wrapper":   {strings.Replace(forged, si, "<WRAPPER>"+evilSI+"</WRAPPER>"+si, 1), ErrWrapping},
		"29775 forged digest in comment":  {strings.Replace(forged, "<dsig:DigestValue>", "<dsig:DigestValue><!--"+digest+"-->", 1), ErrWrapping},
		"29775 comment after the digest":  {regexpReplace(forged, `(<dsig:DigestValue>[^<]*)</dsig:DigestValue>`, "$1<!--"+digest+"--></dsig:DigestValue>"), ErrWrapping},
		"29775 forged digest, no comment": {strings.Replace(forged, si, evilSI, 1), ErrSignature},
	})
}

// TestAdvisorySamlify: samlify CVE-2025-47949 (fixed in 2.10.0 by
// 115679a, which reads the assertion from xml-crypto's signed references).
// samlify checked the signature it found by an XPath and read the
// assertion it found by another: the Response's first Assertion, carrying
// the IdP's Signature copied, while the signed original sat where the
// signature check resolved its Reference (nested in the forged one's
// SubjectConfirmationData or Advice, or in the Response's Extensions).
func TestAdvisorySamlify(t *testing.T) {
	sa := kcSigned(t, SignedAssertion)
	sr := kcSigned(t, SignedResponse)
	orig := reAssertion.FindString(sa)
	sig := reSignature.FindString(orig)
	// The forged assertion under its own ID, carrying the original's
	// Signature (which names ID_a1b2c3).
	forged := strings.Replace(strings.Replace(stripSig(orig), `ID="ID_a1b2c3"`, `ID="ID_evil"`, 1), ">alice<", ">admin<", 1)
	forged = strings.Replace(forged, "</saml:Issuer>", "</saml:Issuer>"+sig, 1)
	in := func(where, what string) string {
		return strings.Replace(forged, where, what+where, 1)
	}
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"original in SubjectConfirmationData": {strings.Replace(sa, orig, strings.Replace(forged, `Recipient="`+testACS+`"/>`, `Recipient="`+testACS+`">`+orig+`</saml:SubjectConfirmationData>`, 1), 1), ErrWrapping},
		"original in Advice":                  {strings.Replace(sa, orig, in("<saml:AttributeStatement>", "<saml:Advice>"+orig+"</saml:Advice>"), 1), ErrWrapping},
		"original in Extensions":              {strings.Replace(sa, orig, "<samlp:Extensions>"+orig+"</samlp:Extensions>"+forged, 1), ErrWrapping},
		"original after the forged one":       {strings.Replace(sa, orig, forged+orig, 1), ErrWrapping},
		// A signed Response with a forged assertion placed in its
		// Extensions, which the Response signature then does not cover
		// once it is moved out: the signed Response stays whole and the
		// forged one is a second assertion.
		"forged beside a signed Response": {strings.Replace(sr, "<samlp:Status>", "<samlp:Extensions>"+stripSig(forged)+"</samlp:Extensions><samlp:Status>", 1), ErrWrapping},
	})
}

// TestAdvisoryNodeSAML: node-saml CVE-2025-54369 and CVE-2025-54419 (fixed
// in 5.1.0 by 31ead94, "use the signedReferences interface to see what is
// signed"). node-saml verified a signature and then processed the
// assertion of the original document: 54419, content changed after
// signing still read (the signature resolved to an untouched copy); 54369,
// a signature accepted that covers another element than the assertion
// processed. idphooks verifies the element it passes on, signed where it
// is (a direct child signature naming its parent's ID), and refuses the
// rest; and what it passes on is what goxmldsig verified.
func TestAdvisoryNodeSAML(t *testing.T) {
	sa := kcSigned(t, SignedAssertion)
	sr := kcSigned(t, SignedResponse)
	both := kcSigned(t, SignedResponse|SignedAssertion)
	orig := reAssertion.FindString(sa)
	respSig := reSignature.FindString(sr)
	assertionSig := reSignature.FindString(orig)
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		// 54419: the NameID changed after signing, the signature kept.
		"54419 changed after signing":            {advForged(t), ErrSignature},
		"54419 changed inside a signed Response": {strings.Replace(sr, ">alice<", ">admin<", 1), ErrSignature},
		"54419 untouched copy kept for the resolver": {strings.Replace(advForged(t), "<samlp:Status>",
			"<samlp:Extensions>"+orig+"</samlp:Extensions><samlp:Status>", 1), ErrWrapping},
		// 54369: the Assertion's Signature names the Response.
		"54369 assertion signature over the Response": {strings.Replace(sa, `URI="#ID_a1b2c3"`, `URI="#ID_r9f8e7"`, 1), ErrWrapping},
		// 54369: the Response's Signature moved into the unsigned Assertion.
		"54369 Response signature inside the Assertion": {strings.Replace(strings.Replace(sr, respSig, "", 1), "<saml:Subject>", respSig+"<saml:Subject>", 1), ErrWrapping},
		// 54369: the Assertion's Signature moved up to the Response.
		"54369 Assertion signature on the Response": {strings.Replace(strings.Replace(sa, assertionSig, "", 1), "<samlp:Status>", assertionSig+"<samlp:Status>", 1), ErrWrapping},
		// 54369: a signature over the whole document (URI="").
		"54369 empty reference": {strings.Replace(sr, `URI="#ID_r9f8e7"`, `URI=""`, 1), ErrWrapping},
	})

	// What idphooks passes on is what was verified: the Model and the
	// re-signed output read the element goxmldsig returned.
	for name, x := range map[string]string{"assertion": sa, "response": sr, "both": both} {
		r, err := verifier().Verify([]byte(x))
		if err != nil {
			t.Fatal(name, err)
		}
		d := advDoc(t, x)
		el := d.FindElement("//[@ID='ID_a1b2c3']")
		if name == "response" {
			el = d.Root()
		}
		ctx, _ := etreeutils.NSBuildParentContext(el)
		det, _ := etreeutils.NSDetatch(ctx, el)
		got, err := verifier().validationContext().Validate(det)
		if err != nil {
			t.Fatal(name, err)
		}
		verified := text(got.FindElement(".//NameID"))
		out, err := signer().Sign(r)
		if err != nil {
			t.Fatal(name, err)
		}
		back, err := hooksVerifier().Verify(out)
		if err != nil {
			t.Fatal(name, err)
		}
		if m, sent := r.Model().NameID.Value, back.Model().NameID.Value; m != verified || sent != verified {
			t.Errorf("%s: goxmldsig verified %q, hooks saw %q, the SP gets %q", name, verified, m, sent)
		}
	}

	// 54419 with encryption (decrypt, then verify the assertion found
	// inside): an assertion changed after the IdP signed it and then
	// encrypted to idphooks is refused, and nothing of it is read.
	h, _ := encKeys()
	x := encryptWith(t, advForged(t), h.cert, keycloakEncryption())
	if r, err := encVerifier().Verify([]byte(x)); !errors.Is(err, ErrSignature) {
		t.Fatalf("changed, then encrypted: %v %v", r, err)
	}
}

// TestAdvisoryXmlseclibsGCMTag: xmlseclibs CVE-2026-32313 (fixed in 3.1.5).
// It took the AES-GCM tag as what followed the ciphertext, never checking
// its length, so a one-byte tag over an empty ciphertext was brute-forced
// byte by byte (256 tries each, told apart by the HTTP status), giving the
// GHASH key, then forgery and decryption. The advisory's steps: keep the
// nonce, cut the ciphertext to nothing, try tags of 1 to 16 bytes. Each
// try is ErrDecrypt (the log says why), and through the interceptor the
// same page: no tag length, no byte, answers differently.
func TestAdvisoryXmlseclibsGCMTag(t *testing.T) {
	sa := kcEncrypted(t, SignedAssertion)
	try := func(name string, f func([]byte) []byte) {
		_, err := encVerifier().Verify([]byte(mutateCipher(t, sa, f)))
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%s: %v, want ErrDecrypt", name, err)
		}
	}
	for n := 1; n <= 16; n++ {
		for _, b := range []byte{0x00, 0x41, 0xff} {
			try(fmt.Sprintf("empty ciphertext, %d-byte tag %#x", n, b), func(c []byte) []byte {
				return append(append([]byte(nil), c[:12]...), strings.Repeat(string(b), n)...)
			})
		}
		try(fmt.Sprintf("real tag cut to %d bytes", n-1), func(c []byte) []byte { return c[:len(c)-16+n-1] })
		try(fmt.Sprintf("real tag's first %d bytes over nothing", n), func(c []byte) []byte {
			return append(append([]byte(nil), c[:12]...), c[len(c)-16:len(c)-16+n]...)
		})
	}
	// Through the interceptor, with decryption configured: the same page
	// whatever the tag.
	h := newHarness(t, "", func(c *Config) { c.Decryption = testDecryption{} })
	var pages []string
	for _, f := range []func([]byte) []byte{
		func(c []byte) []byte { return append(append([]byte(nil), c[:12]...), 0x00) },
		func(c []byte) []byte { return append(append([]byte(nil), c[:12]...), 0x41, 0x42) },
		func(c []byte) []byte { return c[:len(c)-1] },
	} {
		h.page = serve("text/html", postPage(mutateCipher(t, sa, f), ""))
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusBadGateway {
			t.Fatalf("%d, want 502", w.Code)
		}
		pages = append(pages, w.Body.String())
	}
	if pages[0] != pages[1] || pages[1] != pages[2] {
		t.Errorf("pages differ by tag:\n%s\n%s", pages[0], pages[1])
	}
}

// TestAdvisorySignedErrorDecoy: the signed-error-response bypass. IdPs
// sign their error Responses (an unknown SP, a bad request), so anyone
// can have one signed by the IdP. SPs that checked "the Response is
// signed" and then read an assertion, or that saw a Signature in the
// assertion (a decoy, copied from another document) and skipped checking
// it because the Response's verified, logged the forged assertion in.
// Modelled: a forged assertion with a decoy signature put into the signed
// error Response; the error Response's signature moved onto a forged
// success Response with the signed error hidden in it; a decoy signature
// in the error's Extensions. And what a signed error passes on: no hook
// runs, no assertion goes to the SP, its status stays.
func TestAdvisorySignedErrorDecoy(t *testing.T) {
	errResp := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="` + testACS + `" ID="ID_err" InResponseTo="` + testReqID + `" IssueInstant="` + ts(0) + `" Version="2.0"><saml:Issuer>` + testIssuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/></samlp:Status></samlp:Response>`
	signedErr := idpSign(t, errResp, "dsig", "ID_err")
	errSig := reSignature.FindString(signedErr)
	orig := reAssertion.FindString(kcSigned(t, SignedAssertion))
	// The decoy: the IdP's assertion Signature copied onto a forged
	// assertion, its Reference pointed at it (so its shape is right and
	// its value wrong).
	decoy := strings.NewReplacer(">alice<", ">admin<", `ID="ID_a1b2c3"`, `ID="ID_decoy"`, `URI="#ID_a1b2c3"`, `URI="#ID_decoy"`).Replace(orig)
	success := strings.Replace(signedErr, "status:Responder", "status:Success", 1)
	advRefused(t, map[string]struct {
		xml  string
		want error
	}{
		"decoy-signed assertion in the signed error": {strings.Replace(signedErr, "</samlp:Response>", decoy+"</samlp:Response>", 1), ErrStructure},
		"and the status made Success":                {strings.Replace(success, "</samlp:Response>", decoy+"</samlp:Response>", 1), ErrSignature},
		"error signature on a forged Response, the signed error hidden": {strings.Replace(strings.Replace(keycloakResponse(stripSig(decoy)), `ID="ID_r9f8e7"`, `ID="ID_err"`, 1),
			"<samlp:Status>", errSig+"<samlp:Extensions>"+strings.Replace(signedErr, errSig, "", 1)+"</samlp:Extensions><samlp:Status>", 1), ErrWrapping},
		"decoy signature in the error's Extensions":    {strings.Replace(errResp, "<samlp:Status>", "<samlp:Extensions>"+reSignature.FindString(orig)+"</samlp:Extensions><samlp:Status>", 1), ErrWrapping},
		"unsigned error with a decoy-signed assertion": {strings.Replace(errResp, "</samlp:Response>", decoy+"</samlp:Response>", 1), ErrStructure},
	})

	// The signed error itself passes, re-signed, with no assertion and no
	// hook run (a hook that would deny anything is not asked).
	h := newHarness(t, `exports.onBeforeSamlAssertion = (event, api) => { api.deny("hook ran"); };`, nil)
	h.page = serve("text/html", postPage(signedErr, ""))
	msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	back, err := hooksVerifier().Verify(msg)
	if err != nil {
		t.Fatal(err)
	}
	m := back.Model()
	if back.assertion != nil || m.NameID.Value != "" || m.Status.Code != StatusResponder || m.Status.SubCode != "" || m.Status.Message == "hook ran" {
		t.Errorf("the signed error became %+v", m)
	}
}
