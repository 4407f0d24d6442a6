package saml

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idphooks/idphooks/interceptors/saml/binding"
)

const (
	testSLO       = "http://sp.test/saml/slo"
	testLogoutReq = "id-9d2e71" // the SP's LogoutRequest a LogoutResponse answers
	kcRequestID   = "ID_0f6c7d0e-5a4b-4c3d-9e8f-1a2b3c4d5e6f"
	kcResponseID  = "ID_8a7b6c5d-4e3f-4a1b-8c9d-0e1f2a3b4c5d"
	sspRequestID  = "_7c1f0b2a9d8e3f4c5b6a7980e1d2c3b4a5f6e7d8c9"
	sspNameID     = "_ce3d2948b4cf20146dee0a0b3dd6f69b6cf86f62d7"
	sspSession    = "_be9967abd904ddcae3c0eb4189adbe3f71e327cf93"
	kcSession     = "b8e5-9::c1"
	nameIDEmail   = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	nameIDTransit = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
)

// simpleSAMLphpLogoutRequest is SimpleSAMLphp 1.19's LogoutRequest to an
// SP: samlp:/saml: prefixes, a "_" ID, a NotOnOrAfter, a transient NameID
// with its SPNameQualifier and one SessionIndex.
func simpleSAMLphpLogoutRequest(notOnOrAfter string) string {
	return `<?xml version="1.0"?>` + "\n" +
		`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="` + sspRequestID + `" Version="2.0" IssueInstant="` + ts(0) + `" Destination="` + testSLO + `" NotOnOrAfter="` + notOnOrAfter + `">` +
		`<saml:Issuer>` + testIssuer + `</saml:Issuer>` +
		`<saml:NameID SPNameQualifier="` + testSP + `" Format="` + nameIDTransit + `">` + sspNameID + `</saml:NameID>` +
		`<samlp:SessionIndex>` + sspSession + `</samlp:SessionIndex></samlp:LogoutRequest>`
}

// keycloakLogoutRequest is Keycloak 26.7's LogoutRequest to an SP: the
// assertion namespace as the default one, so Issuer and NameID come
// unprefixed, samlp:SessionIndex.
func keycloakLogoutRequest() string {
	return `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns="urn:oasis:names:tc:SAML:2.0:assertion" Destination="` + testSLO + `" ID="` + kcRequestID + `" IssueInstant="` + ts(0) + `" Version="2.0">` +
		`<Issuer>` + testIssuer + `</Issuer><NameID Format="` + nameIDEmail + `">alice@example.com</NameID>` +
		`<samlp:SessionIndex>` + kcSession + `</samlp:SessionIndex></samlp:LogoutRequest>`
}

// keycloakLogoutResponse is Keycloak 26.7's LogoutResponse by POST: a
// default namespace and an unprefixed Issuer (INTEROP.md).
func keycloakLogoutResponse() string {
	return `<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns="urn:oasis:names:tc:SAML:2.0:assertion" Destination="` + testSLO + `" ID="` + kcResponseID + `" InResponseTo="` + testLogoutReq + `" IssueInstant="` + ts(0) + `" Version="2.0">` +
		`<Issuer>` + testIssuer + `</Issuer><samlp:Status><samlp:StatusCode Value="` + StatusSuccess + `"/></samlp:Status></samlp:LogoutResponse>`
}

func sspSignedRequest(t testing.TB) string {
	return idpSign(t, simpleSAMLphpLogoutRequest(ts(5*time.Minute)), "ds", sspRequestID)
}

func kcSignedRequest(t testing.TB) string {
	return idpSign(t, keycloakLogoutRequest(), "dsig", kcRequestID)
}

func kcSignedResponse(t testing.TB) string {
	return idpSign(t, keycloakLogoutResponse(), "dsig", kcResponseID)
}

func TestVerifyLogoutShapes(t *testing.T) {
	sspNotAfter := ts(5 * time.Minute)
	cases := map[string]struct {
		xml   string
		query bool
		want  LogoutModel
	}{
		"simplesamlphp request signed": {
			xml: idpSign(t, simpleSAMLphpLogoutRequest(sspNotAfter), "ds", sspRequestID),
			want: LogoutModel{
				Kind: KindLogoutRequest, ID: sspRequestID, Issuer: testIssuer, Destination: testSLO,
				NameID:         &NameID{Value: sspNameID, Format: nameIDTransit, SPNameQualifier: testSP},
				SessionIndexes: []string{sspSession}, Signed: "xml", NotOnOrAfter: sspNotAfter,
			},
		},
		"keycloak request signed": {
			xml: kcSignedRequest(t),
			want: LogoutModel{
				Kind: KindLogoutRequest, ID: kcRequestID, Issuer: testIssuer, Destination: testSLO,
				NameID:         &NameID{Value: "alice@example.com", Format: nameIDEmail},
				SessionIndexes: []string{kcSession}, Signed: "xml",
			},
		},
		// Keycloak's LogoutRequests by Redirect: the query signed, the XML not.
		"keycloak request query-signed": {
			xml: keycloakLogoutRequest(), query: true,
			want: LogoutModel{
				Kind: KindLogoutRequest, ID: kcRequestID, Issuer: testIssuer, Destination: testSLO,
				NameID:         &NameID{Value: "alice@example.com", Format: nameIDEmail},
				SessionIndexes: []string{kcSession}, Signed: "query",
			},
		},
		// An XML signature is checked and wins even when the query was signed too.
		"keycloak request both": {
			xml: kcSignedRequest(t), query: true,
			want: LogoutModel{
				Kind: KindLogoutRequest, ID: kcRequestID, Issuer: testIssuer, Destination: testSLO,
				NameID:         &NameID{Value: "alice@example.com", Format: nameIDEmail},
				SessionIndexes: []string{kcSession}, Signed: "xml",
			},
		},
		"keycloak response signed": {
			xml: kcSignedResponse(t),
			want: LogoutModel{
				Kind: KindLogoutResponse, ID: kcResponseID, Issuer: testIssuer, Destination: testSLO,
				InResponseTo: testLogoutReq, Status: &Status{Code: StatusSuccess}, Signed: "xml",
			},
		},
		// Every element in a default namespace, the Issuer redeclaring its own.
		"default protocol namespace response": {
			xml: idpSign(t, `<LogoutResponse xmlns="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" IssueInstant="`+ts(0)+`" InResponseTo="`+testLogoutReq+`"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">`+testIssuer+`</Issuer><Status><StatusCode Value="`+StatusResponder+`"><StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></StatusCode><StatusMessage>one SP did not answer</StatusMessage></Status></LogoutResponse>`, "ds", "_r1"),
			want: LogoutModel{
				Kind: KindLogoutResponse, ID: "_r1", Issuer: testIssuer, InResponseTo: testLogoutReq, Signed: "xml",
				Status: &Status{Code: StatusResponder, SubCode: "urn:oasis:names:tc:SAML:2.0:status:PartialLogout", Message: "one SP did not answer"},
			},
		},
		"several session indexes": {
			xml: strings.Replace(keycloakLogoutRequest(), "</samlp:SessionIndex>", "</samlp:SessionIndex><samlp:SessionIndex>second</samlp:SessionIndex>", 1), query: true,
			want: LogoutModel{
				Kind: KindLogoutRequest, ID: kcRequestID, Issuer: testIssuer, Destination: testSLO,
				NameID:         &NameID{Value: "alice@example.com", Format: nameIDEmail},
				SessionIndexes: []string{kcSession, "second"}, Signed: "query",
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := verifier().VerifyLogout([]byte(c.xml), c.query)
			if err != nil {
				t.Fatal(err)
			}
			if l.Kind != c.want.Kind || l.XMLSigned() != (c.want.Signed == "xml") {
				t.Fatalf("kind %s, XML signed %v", l.Kind, l.XMLSigned())
			}
			got, _ := json.Marshal(l.Model())
			want, _ := json.Marshal(c.want)
			if string(got) != string(want) {
				t.Fatalf("model\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestLogoutModelJSON(t *testing.T) {
	l, err := verifier().VerifyLogout([]byte(kcSignedResponse(t)), false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(l.Model())
	want := `{"kind":"LogoutResponse","id":"` + kcResponseID + `","issuer":"` + testIssuer + `","destination":"` + testSLO + `","in_response_to":"` + testLogoutReq + `","status":{"code":"` + StatusSuccess + `"},"signed":"xml"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// Map holds the same names and values as the JSON.
	var fromJSON map[string]any
	json.Unmarshal(got, &fromJSON)
	m := l.Model().Map()
	if m["in_response_to"] != fromJSON["in_response_to"] || m["status"].(map[string]any)["code"] != StatusSuccess || m["name_id"] != nil {
		t.Fatalf("map %v", m)
	}

	r, err := verifier().VerifyLogout([]byte(sspSignedRequest(t)), false)
	if err != nil {
		t.Fatal(err)
	}
	m = r.Model().Map()
	if m["name_id"].(map[string]any)["sp_name_qualifier"] != testSP || m["session_indexes"].([]any)[0] != sspSession || m["not_on_or_after"] == nil || m["status"] != nil {
		t.Fatalf("map %v", m)
	}
}

func TestVerifyLogoutUnsigned(t *testing.T) {
	for name, x := range map[string]string{
		"request":  keycloakLogoutRequest(),
		"response": keycloakLogoutResponse(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := verifier().VerifyLogout([]byte(x), false); !errors.Is(err, ErrUnsigned) {
				t.Fatalf("got %v, want ErrUnsigned", err)
			}
		})
	}
}

var reDS = regexp.MustCompile(`(?s)<ds:Signature .*?</ds:Signature>`)

// TestLogoutWrapping: the wrapping shapes of Responses, on logout
// messages; a verified query signature excuses none of them.
func TestLogoutWrapping(t *testing.T) {
	sr := sspSignedRequest(t)
	sig := reDS.FindString(sr)
	kr := kcSignedResponse(t)
	orig := strings.TrimPrefix(sr, `<?xml version="1.0"?>`+"\n")
	evil := strings.NewReplacer(`ID="`+sspRequestID+`"`, `ID="_evil"`, sspNameID, "admin").Replace(stripDS(orig))
	_, hooks := keys()
	unsignedAssertion := strings.Replace(stripSig(reAssertion.FindString(kcSigned(t, SignedAssertion))), "<saml:Assertion ", `<saml:Assertion xmlns:saml="`+NSAssertion+`" `, 1)

	cases := map[string]struct {
		xml   string
		query bool
		want  error
	}{
		"signature over another ID":   {strings.Replace(sr, `URI="#`+sspRequestID+`"`, `URI="#_other"`, 1), false, ErrWrapping},
		"empty reference":             {strings.Replace(sr, `URI="#`+sspRequestID+`"`, `URI=""`, 1), false, ErrWrapping},
		"two signatures":              {strings.Replace(sr, sig, sig+sig, 1), false, ErrWrapping},
		"duplicate IDs":               {strings.Replace(sr, "<samlp:SessionIndex>", `<samlp:SessionIndex ID="`+sspRequestID+`">`, 1), false, ErrWrapping},
		"duplicate IDs, query-signed": {strings.Replace(keycloakLogoutRequest(), "<samlp:SessionIndex>", `<samlp:SessionIndex ID="`+kcRequestID+`">`, 1), true, ErrWrapping},
		"comment in NameID":           {strings.Replace(sr, ">"+sspNameID+"<", ">_ce3d<!---->"+sspNameID[5:]+"<", 1), false, ErrWrapping},
		"comment in NameID, query":    {strings.Replace(keycloakLogoutRequest(), ">alice@example.com<", ">alice@example.com<!---->.evil.com<", 1), true, ErrWrapping},
		"CDATA split SessionIndex":    {strings.Replace(sr, ">"+sspSession+"<", ">_be99<![CDATA[67]]>"+sspSession[7:]+"<", 1), false, ErrWrapping},
		"comment in SessionIndex":     {strings.Replace(keycloakLogoutRequest(), ">"+kcSession+"<", ">b8e5<!-- -->-9::c1<", 1), true, ErrWrapping},
		"comment in Issuer":           {strings.Replace(kr, ">"+testIssuer+"<", ">"+testIssuer+"<!---->x<", 1), false, ErrWrapping},
		"signature nested deeper":     {strings.Replace(strings.Replace(sr, sig, "", 1), "<samlp:SessionIndex>", "<samlp:Extensions>"+sig+"</samlp:Extensions><samlp:SessionIndex>", 1), false, ErrWrapping},
		"decoy signature, query":      {strings.Replace(keycloakLogoutRequest(), "<samlp:SessionIndex>", "<samlp:Extensions>"+sig+"</samlp:Extensions><samlp:SessionIndex>", 1), true, ErrWrapping},
		"signature not after Issuer":  {strings.Replace(strings.Replace(sr, sig, "", 1), "</saml:NameID>", "</saml:NameID>"+sig, 1), false, ErrWrapping},
		// XSW1/2 on a logout: an evil unsigned request around the signed one.
		"evil root, signed original inside": {strings.Replace(evil, "<samlp:SessionIndex>", "<samlp:Extensions>"+orig+"</samlp:Extensions><samlp:SessionIndex>", 1), true, ErrWrapping},
		"assertion inside":                  {strings.Replace(keycloakLogoutRequest(), "<samlp:SessionIndex>", "<samlp:Extensions>"+unsignedAssertion+"</samlp:Extensions><samlp:SessionIndex>", 1), true, ErrStructure},
		"tampered NameID":                   {strings.Replace(sr, ">"+sspNameID+"<", ">admin<", 1), false, ErrSignature},
		"tampered, query-signed too":        {strings.Replace(sr, ">"+sspNameID+"<", ">admin<", 1), true, ErrSignature},
		"SHA-1":                             {strings.NewReplacer(RSASHA256, RSASHA1, DigestSHA256, DigestSHA1).Replace(sr), false, ErrAlgorithm},
		"without ID":                        {strings.Replace(keycloakLogoutRequest(), `ID="`+kcRequestID+`" `, "", 1), true, ErrStructure},
		"a Response":                        {kcSigned(t, SignedResponse), false, ErrStructure},
		"wrong namespace":                   {strings.Replace(keycloakLogoutRequest(), `xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"`, `xmlns:samlp="urn:oasis:names:tc:SAML:2.0:assertion"`, 1), true, ErrStructure},
		"AuthnRequest":                      {`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>`, true, ErrStructure},
		"DOCTYPE":                           {`<!DOCTYPE x>` + keycloakLogoutRequest(), true, ErrDoctype},
		"unsigned":                          {stripDS(orig), false, ErrUnsigned},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := verifier().VerifyLogout([]byte(c.xml), c.query)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	t.Run("other certificate", func(t *testing.T) {
		v := &Verifier{Certificates: []*x509.Certificate{hooks.cert}}
		if _, err := v.VerifyLogout([]byte(sr), false); !errors.Is(err, ErrSignature) {
			t.Fatal(err)
		}
	})
}

func stripDS(s string) string { return reDS.ReplaceAllString(s, "") }

// TestSignLogout: what idphooks re-signs verifies with its certificate
// only, signed where the IdP had signed; a message only the query signed
// comes back as it came, for the caller to sign the query.
func TestSignLogout(t *testing.T) {
	for name, up := range map[string]string{
		"simplesamlphp request": sspSignedRequest(t),
		"keycloak request":      kcSignedRequest(t),
		"keycloak response":     kcSignedResponse(t),
	} {
		t.Run(name, func(t *testing.T) {
			l, err := verifier().VerifyLogout([]byte(up), false)
			if err != nil {
				t.Fatal(err)
			}
			before := l.Model()
			out, err := signer().SignLogout(l)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), keysIDPCertB64(t)) {
				t.Fatal("upstream certificate left in output")
			}
			if n := strings.Count(string(out), "</ds:Signature>"); n != 1 {
				t.Fatalf("%d signatures in\n%s", n, out)
			}
			back, err := hooksVerifier().VerifyLogout(out, false)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !back.XMLSigned() || !modelsEqual(back.Model(), before) {
				t.Fatalf("re-signed model %+v, was %+v", back.Model(), before)
			}
			if _, err := verifier().VerifyLogout(out, false); !errors.Is(err, ErrSignature) {
				t.Fatalf("the IdP's certificate verified idphooks' signature: %v", err)
			}
		})
	}
	t.Run("query-signed", func(t *testing.T) {
		up := keycloakLogoutRequest()
		l, err := verifier().VerifyLogout([]byte(up), true)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != up {
			t.Fatalf("changed:\n%s\nwas\n%s", out, up)
		}
		if _, err := hooksVerifier().VerifyLogout(out, false); !errors.Is(err, ErrUnsigned) {
			t.Fatal(err)
		}
	})
	t.Run("query-signed needs no RSA key", func(t *testing.T) {
		l, err := verifier().VerifyLogout([]byte(keycloakLogoutRequest()), true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Signer{}).SignLogout(l); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no key", func(t *testing.T) {
		up := kcSignedResponse(t)
		l, err := verifier().VerifyLogout([]byte(up), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Signer{}).SignLogout(l); err == nil {
			t.Fatal("signed without a key")
		}
		// The failed call left the verified message as it was.
		if out, err := signer().SignLogout(l); err != nil {
			t.Fatal(err)
		} else if _, err := hooksVerifier().VerifyLogout(out, false); err != nil {
			t.Fatal(err)
		}
	})
}

func modelsEqual(a, b LogoutModel) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// logoutSP is crewjam's SP trusting only idphooks' certificate, with an
// SLO endpoint.
func logoutSP(t testing.TB) *crewjam.ServiceProvider {
	sp := testSPFor(t)
	slo, _ := url.Parse(testSLO)
	sp.SloURL = *slo
	return sp
}

func spErr(err error) error {
	var ire *crewjam.InvalidResponseError
	if errors.As(err, &ire) {
		return ire.PrivateErr
	}
	return err
}

// TestLogoutThroughSP: crewjam/saml's SP, trusting only idphooks, takes
// the logout messages idphooks passes on, by POST and by Redirect, and
// refuses the IdP's own.
func TestLogoutThroughSP(t *testing.T) {
	_, hooks := keys()
	idp, _ := keys()
	t.Run("LogoutResponse by POST", func(t *testing.T) {
		up := kcSignedResponse(t)
		if err := logoutSP(t).ValidateLogoutResponseForm(base64.StdEncoding.EncodeToString([]byte(up))); err == nil {
			t.Fatal("SP trusting only idphooks accepted the IdP's own LogoutResponse")
		}
		l, err := verifier().VerifyLogout([]byte(up), false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := logoutSP(t).ValidateLogoutResponseForm(base64.StdEncoding.EncodeToString(out)); err != nil {
			t.Fatalf("SP refused: %v\n%s", spErr(err), out)
		}
	})
	t.Run("LogoutRequest by POST", func(t *testing.T) {
		up := sspSignedRequest(t)
		if _, err := logoutSP(t).ValidateLogoutRequestForm(base64.StdEncoding.EncodeToString([]byte(up))); err == nil {
			t.Fatal("SP trusting only idphooks accepted the IdP's own LogoutRequest")
		}
		l, err := verifier().VerifyLogout([]byte(up), false)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		req, err := logoutSP(t).ValidateLogoutRequestForm(base64.StdEncoding.EncodeToString(out))
		if err != nil {
			t.Fatalf("SP refused: %v\n%s", spErr(err), out)
		}
		if req.NameID == nil || req.NameID.Value != sspNameID || !slices.Equal(sessionIndexes(req), []string{sspSession}) {
			t.Fatalf("SP read %+v", req)
		}
	})
	// Keycloak's LogoutRequest by Redirect, signed in the query only: the
	// interceptor checks the IdP's query signature, passes the XML as it
	// came and signs the query with idphooks' key.
	t.Run("LogoutRequest by Redirect", func(t *testing.T) {
		q, err := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), url.QueryEscape("back to /app"), RSASHA256, idp.key)
		if err != nil {
			t.Fatal(err)
		}
		in, err := binding.ParseRedirect(q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Verify(verifier().Certificates, nil); err != nil {
			t.Fatal(err)
		}
		l, err := verifier().VerifyLogout(in.Message, true)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		if l.XMLSigned() {
			t.Fatal("a query-signed message reads as XML-signed")
		}
		ours, err := binding.SignRedirect("SAMLRequest", out, in.RawRelayState(), RSASHA256, hooks.key)
		if err != nil {
			t.Fatal(err)
		}
		req, err := logoutSP(t).ValidateLogoutRequest(httptest.NewRequest("GET", testSLO+"?"+ours, nil))
		if err != nil {
			t.Fatalf("SP refused: %v", spErr(err))
		}
		if req.NameID == nil || req.NameID.Value != "alice@example.com" || !slices.Equal(sessionIndexes(req), []string{kcSession}) {
			t.Fatalf("SP read %+v", req)
		}
		if _, err := logoutSP(t).ValidateLogoutRequest(httptest.NewRequest("GET", testSLO+"?"+q, nil)); err == nil {
			t.Fatal("SP trusting only idphooks accepted the IdP's query signature")
		}
	})
	t.Run("LogoutResponse by Redirect", func(t *testing.T) {
		q, err := binding.SignRedirect("SAMLResponse", []byte(keycloakLogoutResponse()), "", RSASHA256, idp.key)
		if err != nil {
			t.Fatal(err)
		}
		in, err := binding.ParseRedirect(q, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Verify(verifier().Certificates, nil); err != nil {
			t.Fatal(err)
		}
		l, err := verifier().VerifyLogout(in.Message, true)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signer().SignLogout(l)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := binding.SignRedirect("SAMLResponse", out, "", RSASHA256, hooks.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := logoutSP(t).ParseLogoutResponse(httptest.NewRequest("GET", testSLO+"?"+ours, nil), []string{testLogoutReq}); err != nil {
			t.Fatalf("SP refused: %v", spErr(err))
		}
	})
}

func sessionIndexes(r *crewjam.LogoutRequest) []string {
	var out []string
	for _, s := range r.AllSessionIndexes() {
		out = append(out, s.Value)
	}
	return out
}

func BenchmarkLogoutRoundTrip(b *testing.B) {
	up := []byte(kcSignedResponse(b))
	v, s := verifier(), signer()
	b.ReportAllocs()
	for b.Loop() {
		l, err := v.VerifyLogout(up, false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.SignLogout(l); err != nil {
			b.Fatal(err)
		}
	}
}
