package saml

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	crewjam "github.com/crewjam/saml"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

func kcSigned(t testing.TB, p Placement) string {
	x := keycloakResponse(keycloakAssertion("alice", 0))
	var ids []string
	if p&SignedAssertion != 0 {
		ids = append(ids, "ID_a1b2c3")
	}
	if p&SignedResponse != 0 {
		ids = append(ids, "ID_r9f8e7")
	}
	return idpSign(t, x, "dsig", ids...)
}

func TestVerifyPlacements(t *testing.T) {
	for _, p := range []Placement{SignedResponse, SignedAssertion, SignedResponse | SignedAssertion} {
		t.Run(p.String(), func(t *testing.T) {
			r, err := verifier().Verify([]byte(kcSigned(t, p)))
			if err != nil {
				t.Fatal(err)
			}
			if r.Signed != p {
				t.Fatalf("placement %v, want %v", r.Signed, p)
			}
			m := r.Model()
			if m.Signed != p.String() || m.NameID.Value != "alice" || m.Issuer != testIssuer {
				t.Fatalf("model %+v", m)
			}
		})
	}
}

func TestModelKeycloak(t *testing.T) {
	r, err := verifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Model()
	if m.SPEntityID != testSP || m.ACSURL != testACS || m.Destination != testACS ||
		m.InResponseTo != testReqID || m.SubjectInResponseTo != testReqID ||
		m.SessionIndex != "b8e5-9::c1" || m.Status.Code != StatusSuccess ||
		m.AuthnContextClassRef != "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified" ||
		m.NameID.Format != "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" {
		t.Fatalf("model %+v", m)
	}
	if got := m.Attributes["Role"].Values; !slices.Equal(got, []string{"admin", "user"}) {
		t.Fatalf("Role merged to %q", got)
	}
	if e := m.Attributes["email"]; e.FriendlyName != "email" || e.NameFormat != AttrNameFormatBasic || e.Values[0] != "alice@example.com" {
		t.Fatalf("email %+v", e)
	}
	mm := m.Map()
	if mm["name_id"].(map[string]any)["value"] != "alice" || mm["attributes"].(map[string]any)["Role"].(map[string]any)["values"].([]any)[1] != "user" {
		t.Fatalf("map %v", mm)
	}
}

func TestModelSimpleSAMLphp(t *testing.T) {
	x := idpSign(t, simpleSAMLphpResponse(), "ds", "_d71a3a8e9fcc45c9e9d248ef7049393fc8f04e5f75")
	r, err := verifier().Verify([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Model()
	if m.NameID.SPNameQualifier != testSP || !slices.Equal(m.Attributes["eduPersonAffiliation"].Values, []string{"member", "student"}) {
		t.Fatalf("model %+v", m)
	}
	// xs is used only in xsi:type values: it stays declared where the IdP
	// declared it, on the Assertion, and is signed as inclusive.
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), `xmlns:xs="http://www.w3.org/2001/XMLSchema"`); n != 1 ||
		!strings.Contains(string(out), `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"`) {
		t.Fatalf("%d xs declarations in\n%s", n, out)
	}
	if !strings.Contains(string(out), `PrefixList="xs"`) {
		t.Fatalf("no PrefixList in\n%s", out)
	}
	acceptedBySP(t, out)
}

func testSPFor(t testing.TB) *crewjam.ServiceProvider {
	_, h := keys()
	acs, _ := url.Parse(testACS)
	md, _ := url.Parse(testSP)
	return &crewjam.ServiceProvider{
		EntityID: testSP, AcsURL: *acs, MetadataURL: *md,
		IDPMetadata: &crewjam.EntityDescriptor{
			EntityID: testIssuer,
			IDPSSODescriptors: []crewjam.IDPSSODescriptor{{SSODescriptor: crewjam.SSODescriptor{RoleDescriptor: crewjam.RoleDescriptor{
				ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
				KeyDescriptors: []crewjam.KeyDescriptor{{Use: "signing", KeyInfo: crewjam.KeyInfo{
					X509Data: crewjam.X509Data{X509Certificates: []crewjam.X509Certificate{{Data: base64.StdEncoding.EncodeToString(h.cert.Raw)}}},
				}}},
			}}}},
		},
	}
}

func acceptedBySP(t testing.TB, out []byte) *crewjam.Assertion {
	t.Helper()
	acs, _ := url.Parse(testACS)
	a, err := testSPFor(t).ParseXMLResponse(out, []string{testReqID}, *acs)
	if err != nil {
		var ire *crewjam.InvalidResponseError
		if errors.As(err, &ire) {
			t.Fatalf("SP refused: %v\n%s", ire.PrivateErr, out)
		}
		t.Fatalf("SP refused: %v", err)
	}
	return a
}

func spValues(a *crewjam.Assertion, name string) []string {
	var out []string
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			if at.Name == name {
				for _, v := range at.Values {
					out = append(out, v.Value)
				}
			}
		}
	}
	return out
}

func TestRoundTripThroughSP(t *testing.T) {
	for _, p := range []Placement{SignedResponse, SignedAssertion, SignedResponse | SignedAssertion} {
		t.Run(p.String(), func(t *testing.T) {
			up := kcSigned(t, p)
			acs, _ := url.Parse(testACS)
			if _, err := testSPFor(t).ParseXMLResponse([]byte(up), []string{testReqID}, *acs); err == nil {
				t.Fatal("SP trusting only idphooks accepted the IdP's own response")
			}
			r, err := verifier().Verify([]byte(up))
			if err != nil {
				t.Fatal(err)
			}
			ops := []sandbox.Op{
				{Object: "assertion", Method: "setAttribute", Args: []any{"department", []any{"eng", "ops"}, map[string]any{"friendlyName": "dept"}}},
				{Object: "assertion", Method: "setAttribute", Args: []any{"Role", "auditor"}},
				{Object: "assertion", Method: "removeAttribute", Args: []any{"email"}},
				{Object: "assertion", Method: "setNameID", Args: []any{"alice@example.com", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}},
			}
			if changed, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil || !changed {
				t.Fatal(changed, err)
			}
			out, err := signer().Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			a := acceptedBySP(t, out)
			if a.Subject.NameID.Value != "alice@example.com" {
				t.Fatalf("NameID %q", a.Subject.NameID.Value)
			}
			if got := spValues(a, "department"); !slices.Equal(got, []string{"eng", "ops"}) {
				t.Fatalf("department %q", got)
			}
			if got := spValues(a, "Role"); !slices.Equal(got, []string{"auditor"}) {
				t.Fatalf("Role %q", got)
			}
			if got := spValues(a, "email"); got != nil {
				t.Fatalf("email %q", got)
			}
			if n := strings.Count(string(out), "</ds:Signature>"); n != bitsSet(p) {
				t.Fatalf("%d signatures for %v\n%s", n, p, out)
			}
			// idphooks' output verifies with idphooks' certificate, in the same places.
			_, h := keys()
			back, err := (&Verifier{Certificates: []*x509.Certificate{h.cert}}).Verify(out)
			if err != nil || back.Signed != p {
				t.Fatal(back, err)
			}
		})
	}
}

func bitsSet(p Placement) int {
	n := 0
	for ; p != 0; p &= p - 1 {
		n++
	}
	return n
}

func TestPassThroughResigned(t *testing.T) {
	r, err := verifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	a := acceptedBySP(t, out)
	if got := spValues(a, "Role"); !slices.Equal(got, []string{"admin", "user"}) {
		t.Fatalf("Role %q", got)
	}
	if strings.Contains(string(out), keysIDPCertB64(t)) {
		t.Fatal("upstream certificate left in output")
	}
}

func keysIDPCertB64(t testing.TB) string {
	idp, _ := keys()
	return base64.StdEncoding.EncodeToString(idp.cert.Raw)[:64]
}

func TestDeny(t *testing.T) {
	r, err := verifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := signer().Deny(r, "account blocked")
	if err != nil {
		t.Fatal(err)
	}
	_, h := keys()
	back, err := (&Verifier{Certificates: []*x509.Certificate{h.cert}}).Verify(out)
	if err != nil {
		t.Fatal(err)
	}
	m := back.Model()
	if m.Status != (Status{StatusResponder, StatusRequestDenied, "account blocked"}) ||
		m.InResponseTo != testReqID || m.Destination != testACS || m.Issuer != testIssuer || back.assertion != nil {
		t.Fatalf("deny model %+v", m)
	}
	acs, _ := url.Parse(testACS)
	_, err = testSPFor(t).ParseXMLResponse(out, []string{testReqID}, *acs)
	var ire *crewjam.InvalidResponseError
	if !errors.As(err, &ire) || !strings.Contains(ire.PrivateErr.Error(), "RequestDenied") && !strings.Contains(ire.PrivateErr.Error(), "Responder") {
		t.Fatalf("SP outcome %v", err)
	}
}

// The policy itself is tested in events (assertion_test.go); Apply checks
// every op again.
func TestApplyChecksAgain(t *testing.T) {
	p := events.NewAssertionPolicy([]string{"tenant"})
	r, err := verifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	bad := []sandbox.Op{{Object: "assertion", Method: "setAttribute", Args: []any{"tenant", "x"}}}
	if _, err := r.Apply(p, bad); !errors.Is(err, ErrProtected) {
		t.Fatalf("Apply of a protected attribute: %v", err)
	}
}

func TestSetAttributePrefixes(t *testing.T) {
	// A default-namespace document (ADFS style) gets unprefixed elements.
	x := strings.NewReplacer("saml:", "", "xmlns:saml=", "xmlns:unused=").Replace(keycloakAssertion("alice", 0))
	x = strings.Replace(x, `<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"`, `<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"`, 1)
	doc := idpSign(t, keycloakResponse(x), "ds", "ID_a1b2c3")
	r, err := verifier().Verify([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r.SetAttribute("new", []string{"v"}, "", "")
	out, _ := signer().Sign(r)
	if !strings.Contains(string(out), `<Attribute Name="new" NameFormat="`+AttrNameFormatBasic+`"><AttributeValue xmlns:xs=`) {
		t.Fatalf("new attribute not in the default namespace:\n%s", out)
	}
	acceptedBySP(t, out)
}

func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300)
	for name, c := range map[string]struct {
		xml  string
		want error
	}{
		"doctype":      {`<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`, ErrDoctype},
		"entity bomb":  {`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><r>&lol2;</r>`, ErrDoctype},
		"deep":         {deep, ErrTooDeep},
		"two roots":    {`<a/><b/>`, ErrNotOneRoot},
		"no root":      {`<!-- c -->`, ErrNotOneRoot},
		"text outside": {`<a/>junk`, ErrNotOneRoot},
		"nbsp outside": {"<a/>\u00a0", ErrNotOneRoot},
		"nel before":   {"\u0085<a/>", ErrNotOneRoot},
		"two boms":     {"\uFEFF\uFEFF<a/>", ErrNotOneRoot},
		"unclosed":     {`<a><b></a>`, ErrMalformed},
		"undefined":    {`<a>&x;</a>`, ErrMalformed},
		"unterminated": {`<a b="`, ErrMalformed},
	} {
		if _, err := Parse([]byte(c.xml), 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := Parse([]byte(`<?xml version="1.0"?><a x='>'><!-- <b> --><![CDATA[<c>]]></a>`), 2); err != nil {
		t.Fatal(err)
	}
	// A byte order mark, as metadata saved on Windows starts, is no text.
	if _, err := Parse([]byte("\uFEFF<?xml version=\"1.0\"?>\r\n<a/>\r\n"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestAlgorithms(t *testing.T) {
	up := kcSigned(t, SignedAssertion)
	v := verifier()
	v.Algorithms = []string{RSASHA512, DigestSHA512}
	if _, err := v.Verify([]byte(up)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("rsa-sha256 outside the list: %v", err)
	}
	sha1 := strings.NewReplacer(RSASHA256, RSASHA1, DigestSHA256, DigestSHA1).Replace(up)
	if _, err := verifier().Verify([]byte(sha1)); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("SHA-1 by default: %v", err)
	}
}

// TestTypePrefixFromOutsideTheAssertion: xs declared only on the Response
// while only the Assertion is signed: it is declared inside the Assertion
// too, so an SP that lifts the Assertion out still resolves xs:string.
func TestTypePrefixFromOutsideTheAssertion(t *testing.T) {
	ssp := simpleSAMLphpResponse()
	ssp = strings.Replace(ssp, ` xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="_d71a`, ` ID="_d71a`, 1)
	ssp = strings.Replace(ssp, `<samlp:Response `, `<samlp:Response xmlns:xs="http://www.w3.org/2001/XMLSchema" `, 1)
	x := idpSign(t, ssp, "ds", "_d71a3a8e9fcc45c9e9d248ef7049393fc8f04e5f75")
	r, err := verifier().Verify([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	a := reAssertion.FindString(strings.ReplaceAll(string(out), "<saml:Assertion xmlns", "<saml:Assertion  xmlns"))
	if n := strings.Count(a, `xmlns:xs="http://www.w3.org/2001/XMLSchema"`); n != 3 {
		t.Fatalf("%d xs declarations inside the Assertion:\n%s", n, out)
	}
	acceptedBySP(t, out)
}
