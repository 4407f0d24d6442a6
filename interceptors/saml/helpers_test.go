package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

var (
	keysOnce         sync.Once
	idpKey, hooksKey keyPair
)

func newKeyPair(cn string) keyPair {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	c, _ := x509.ParseCertificate(der)
	return keyPair{k, c}
}

func keys() (idp, hooks keyPair) {
	keysOnce.Do(func() {
		idpKey, hooksKey = newKeyPair("test idp"), newKeyPair("idphooks")
	})
	return idpKey, hooksKey
}

const (
	testIssuer = "http://idp.test/realms/acme"
	testACS    = "http://sp.test/saml/acs"
	testSP     = "http://sp.test/saml/metadata"
	testReqID  = "id-4f1c2a"
)

func ts(d time.Duration) string {
	return time.Now().UTC().Add(d).Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

func kcValue(v string) string {
	return `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">` + v + `</saml:AttributeValue>`
}

// keycloakAssertion is the Assertion Keycloak 26.7 writes, attributes
// given as name → values (one Attribute element per role value, as its
// role list mapper does for "Role").
func keycloakAssertion(nameID string, extra int) string {
	var attrs strings.Builder
	attrs.WriteString(`<saml:Attribute FriendlyName="email" Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` + kcValue("alice@example.com") + `</saml:Attribute>`)
	for _, r := range []string{"admin", "user"} {
		attrs.WriteString(`<saml:Attribute Name="Role" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">` + kcValue(r) + `</saml:Attribute>`)
	}
	for i := 0; i < extra; i++ {
		fmt.Fprintf(&attrs, `<saml:Attribute Name="attr%d" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">%s</saml:Attribute>`, i, kcValue(fmt.Sprint("value ", i)))
	}
	return `<saml:Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="ID_a1b2c3" IssueInstant="` + ts(0) + `" Version="2.0">` +
		`<saml:Issuer>` + testIssuer + `</saml:Issuer>` +
		`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">` + nameID + `</saml:NameID>` +
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="` + testReqID + `" NotOnOrAfter="` + ts(5*time.Minute) + `" Recipient="` + testACS + `"/></saml:SubjectConfirmation></saml:Subject>` +
		`<saml:Conditions NotBefore="` + ts(-time.Minute) + `" NotOnOrAfter="` + ts(time.Minute) + `"><saml:AudienceRestriction><saml:Audience>` + testSP + `</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
		`<saml:AuthnStatement AuthnInstant="` + ts(0) + `" SessionIndex="b8e5-9::c1" SessionNotOnOrAfter="` + ts(10*time.Hour) + `"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
		`<saml:AttributeStatement>` + attrs.String() + `</saml:AttributeStatement></saml:Assertion>`
}

func keycloakResponse(assertion string) string {
	return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="` + testACS + `" ID="ID_r9f8e7" InResponseTo="` + testReqID + `" IssueInstant="` + ts(0) + `" Version="2.0">` +
		`<saml:Issuer>` + testIssuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		assertion + `</samlp:Response>`
}

// simpleSAMLphpResponse is SimpleSAMLphp 1.19's shape: xs and xsi declared
// on the Assertion, ds: prefix, "_" IDs, newline-free.
func simpleSAMLphpResponse() string {
	return `<?xml version="1.0"?>` + "\n" +
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_8e8dc5f69a98cc4c1ff3427e5ce34606fd672f91e6" Version="2.0" IssueInstant="` + ts(0) + `" Destination="` + testACS + `" InResponseTo="` + testReqID + `">` +
		`<saml:Issuer>` + testIssuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		`<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_d71a3a8e9fcc45c9e9d248ef7049393fc8f04e5f75" Version="2.0" IssueInstant="` + ts(0) + `">` +
		`<saml:Issuer>` + testIssuer + `</saml:Issuer>` +
		`<saml:Subject><saml:NameID SPNameQualifier="` + testSP + `" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_ce3d2948b4cf20146dee0a0b3dd6f69b6cf86f62d7</saml:NameID>` +
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="` + ts(5*time.Minute) + `" Recipient="` + testACS + `" InResponseTo="` + testReqID + `"/></saml:SubjectConfirmation></saml:Subject>` +
		`<saml:Conditions NotBefore="` + ts(-30*time.Second) + `" NotOnOrAfter="` + ts(5*time.Minute) + `"><saml:AudienceRestriction><saml:Audience>` + testSP + `</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
		`<saml:AuthnStatement AuthnInstant="` + ts(0) + `" SessionNotOnOrAfter="` + ts(8*time.Hour) + `" SessionIndex="_be9967abd904ddcae3c0eb4189adbe3f71e327cf93"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
		`<saml:AttributeStatement><saml:Attribute Name="uid" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">student</saml:AttributeValue></saml:Attribute>` +
		`<saml:Attribute Name="eduPersonAffiliation" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml:AttributeValue xsi:type="xs:string">member</saml:AttributeValue><saml:AttributeValue xsi:type="xs:string">student</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>` +
		`</saml:Assertion></samlp:Response>`
}

// idpSign signs, with the test IdP's key and goxmldsig, the elements of
// doc whose IDs are given (in that order), placing each Signature right
// after the Issuer as Keycloak does.
func idpSign(t testing.TB, xml string, prefix string, ids ...string) string {
	t.Helper()
	idp, _ := keys()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		el := doc.FindElement(fmt.Sprintf("//[@ID='%s']", id))
		if el == nil {
			t.Fatalf("no element %s", id)
		}
		sig := signFor(t, el, idp, prefix)
		at := 0
		if is := child(el, NSAssertion, "Issuer"); is != nil {
			at = is.Index() + 1
		}
		el.InsertChildAt(at, sig)
	}
	out, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func signFor(t testing.TB, el *etree.Element, kp keyPair, prefix string) *etree.Element {
	t.Helper()
	ctx, err := dsig.NewSigningContext(kp.key, [][]byte{kp.cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Prefix = prefix
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	// goxmldsig canonicalizes in place and without the parent's
	// namespaces: sign a detached copy.
	det := detach(t, el)
	sig, err := ctx.ConstructSignature(det, true)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func verifier() *Verifier {
	idp, _ := keys()
	return &Verifier{Certificates: []*x509.Certificate{idp.cert}}
}

func signer() *Signer {
	_, h := keys()
	return &Signer{Key: h.key, Certificate: h.cert}
}
