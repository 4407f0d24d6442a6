package saml

// Attacks on the whole path (page, message, hooks, metadata, redirects),
// each a finding of a review with its fix; see advisories_test.go for the
// advisory corpus.

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding/unicode"

	"github.com/idphooks/idphooks/interceptors/saml/binding"
)

// twoAudiences names another SP before testSP in the one
// AudienceRestriction: crewjam (reading the last Audience) and SPs reading
// any accept it for testSP, while the first Audience was taken as the SP.
func twoAudiences(t *testing.T) string {
	a := strings.Replace(keycloakAssertion("alice", 0), "<saml:Audience>"+testSP, "<saml:Audience>urn:other:sp</saml:Audience><saml:Audience>"+testSP, 1)
	return idpSign(t, keycloakResponse(a), "dsig", "ID_a1b2c3")
}

// TestAttackSecondAudience: a hook denying every login to testSP did not
// run for an assertion naming another SP first, which testSP accepted; and
// testSP's encryption certificate was not used for it. Both are refused
// now; an assertion naming several SPs passes when nothing depends on
// which one it is.
func TestAttackSecondAudience(t *testing.T) {
	up := twoAudiences(t)
	acs, _ := url.Parse(testACS)
	r, err := verifier().Verify([]byte(up))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := signer().Sign(r)
	if _, err := testSPFor(t).ParseXMLResponse(out, []string{testReqID}, *acs); err != nil {
		t.Fatalf("the premise: the SP accepts an assertion naming it second: %v", err)
	}

	hookApps = []string{testSP}
	h := newHarness(t, `exports.onBeforeSamlAssertion = (event, api) => { api.deny("no one gets in"); };`, nil)
	hookApps = nil
	h.page = serve("text/html", postPage(up, ""))
	w := h.do(t, "POST", "/x")
	if w.Code == http.StatusOK {
		msg, _ := sentMessage(t, w.Body.Bytes())
		if _, err := testSPFor(t).ParseXMLResponse(msg, []string{testReqID}, *acs); err == nil {
			t.Fatal("the SP logged in a login its hook denies: the hook did not run for the second Audience")
		}
	}
	if w.Code != http.StatusBadGateway {
		t.Errorf("%d, want 502", w.Code)
	}

	_, spKP := encKeys()
	h = newHarness(t, "", func(c *Config) { c.SPs = map[string]SP{testSP: {EncryptionCertificate: spKP.cert}} })
	h.page = serve("text/html", postPage(up, ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("SP settings for the second Audience: %d, want 502 (the assertion went in clear)", w.Code)
	}

	h = newHarness(t, "", nil)
	h.page = serve("text/html", postPage(up, ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusOK {
		t.Errorf("nothing per SP: %d, want the login to pass", w.Code)
	}
}

// TestAttackUnreadPages: pages a browser posts a SAML message from and
// idphooks did not read went out unchanged, the IdP's message unverified
// and unhooked (refused by SPs trusting only idphooks, taken by one still
// trusting the IdP). Each is refused now.
func TestAttackUnreadPages(t *testing.T) {
	unsigned := keycloakResponse(keycloakAssertion("alice", 0))
	page := postPage(unsigned, "")
	field := `name="SAMLResponse"`
	utf16 := func(s string) string {
		b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for name, tc := range map[string]struct{ ct, body string }{
		// A character reference in the name, which browsers decode.
		"SAML&#82;esponse":  {"text/html", strings.Replace(page, field, `name="SAML&#82;esponse"`, 1)},
		"&#x53;AMLResponse": {"text/html", strings.Replace(page, field, `name="&#x53;AMLResponse"`, 1)},
		// A </form> the tokenizer closes the form at and a browser does not:
		// in <select> (ignored there), in <noscript> (raw text while
		// scripts run).
		"</form> in select":   {"text/html", strings.Replace(page, "<input type=\"hidden\" name=\"SAMLResponse\"", "<select></form></select><input type=\"hidden\" name=\"SAMLResponse\"", 1)},
		"</form> in noscript": {"text/html", strings.Replace(page, "<input type=\"hidden\" name=\"SAMLResponse\"", "<noscript></form></noscript><input type=\"hidden\" name=\"SAMLResponse\"", 1)},
		// A field outside any form, which a script posts.
		"field posted by a script": {"text/html", `<html><body><input id="r" type="hidden" name="SAMLResponse" value="` + strings.SplitN(strings.SplitN(page, `name="SAMLResponse" value="`, 2)[1], `"`, 2)[0] + `"><script>var f=document.createElement("form");f.method="post";f.action="` + testACS + `";f.appendChild(document.getElementById("r"));document.body.appendChild(f);f.submit();</script></body></html>`},
		// Encodings whose bytes are not what the browser reads.
		"UTF-16 with a byte order mark": {"text/html; charset=utf-8", utf16(page)},
		"UTF-16 by charset":             {"text/html; charset=utf-16le", utf16(page)[2:]},
		"ISO-2022-JP escapes in the name": {"text/html; charset=iso-2022-jp",
			strings.Replace(page, field, "name=\"SAML\x1b(BResponse\"", 1)},
		"ISO-2022-JP by meta": {"text/html",
			strings.Replace(strings.Replace(page, "<head>", `<head><meta charset="iso-2022-jp">`, 1), field, "name=\"SAML\x1b(BResponse\"", 1)},
	} {
		h := newHarness(t, "", nil)
		h.page = serve(tc.ct, tc.body)
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502 (the page went out %s)", name, w.Code, map[bool]string{true: "unchanged", false: "changed"}[w.Body.String() == tc.body])
		}
	}
	// Pages without a message in those encodings still pass.
	h := newHarness(t, "", nil)
	for _, tc := range []struct{ ct, body string }{
		{"text/html; charset=utf-16le", utf16("<p>hello</p>")[2:]},
		{"text/html; charset=iso-2022-jp", "<p>\x1b$B$3$s$K$A$O\x1b(B</p>"},
		{"text/html", "<p>&#233;t&#233;</p>"},
	} {
		h.page = serve(tc.ct, tc.body)
		if w := h.do(t, "GET", "/x"); w.Code != http.StatusOK || w.Body.String() != tc.body {
			t.Errorf("%q: %d, want the page unchanged", tc.ct, w.Code)
		}
	}
}

// TestAttackEncodedRedirectKey: SAML%52equest is SAMLRequest to an SP; the
// Location carrying it was not looked at, and the IdP's query-signed
// LogoutRequest went out with the IdP's signature. It is re-signed now.
func TestAttackEncodedRedirectKey(t *testing.T) {
	idp, hk := keys()
	q, err := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), "", RSASHA256, idp.key)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "", nil)
	h.page = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", testSLO+"?"+strings.Replace(q, "SAMLRequest=", "SAML%52equest=", 1))
		w.WriteHeader(http.StatusFound)
	}
	loc, _ := url.Parse(h.do(t, "GET", "/x").Header().Get("Location"))
	rd, err := binding.ParseRedirect(loc.RawQuery, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Verify([]*x509.Certificate{idp.cert}, nil); err == nil {
		t.Fatal("the IdP's query signature reached the SP")
	}
	if err := rd.Verify([]*x509.Certificate{hk.cert}, nil); err != nil {
		t.Errorf("idphooks' signature: %v", err)
	}
	if !bytes.Equal(percentDecoded("a%41%zz%4"), []byte("aA%zz%4")) {
		t.Error("percentDecoded")
	}
}

// TestAttackWideNamespacesElsewhere: the namespace bound of the POST page
// (advisories_test.go) holds for messages by Redirect and for published
// metadata, which goxmldsig canonicalizes too.
func TestAttackWideNamespacesElsewhere(t *testing.T) {
	var decl strings.Builder
	for i := range maxNamespacesInScope + 1 {
		decl.WriteString(` xmlns:q` + strings.Repeat("x", i+1) + `="urn:q"`)
	}
	idp, _ := keys()
	wide := strings.Replace(keycloakLogoutRequest(), "<samlp:LogoutRequest ", "<samlp:LogoutRequest"+decl.String()+" ", 1)
	q, err := binding.SignRedirect("SAMLRequest", []byte(wide), "", RSASHA256, idp.key)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "", nil)
	h.page = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", testSLO+"?"+q)
		w.WriteHeader(http.StatusFound)
	}
	if w := h.do(t, "GET", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("Redirect: %d, want 502", w.Code)
	}
	_, hk := keys()
	md := strings.Replace(idpMetadataXML(), "<md:EntityDescriptor ", "<md:EntityDescriptor"+decl.String()+" ", 1)
	if _, err := PublishIdPMetadata([]byte(md), PublishOptions{Signing: []*x509.Certificate{hk.cert}}); err == nil {
		t.Error("metadata: published")
	}
}

// TestAttackDuplicateEntity: an EntitiesDescriptor with a second
// EntityDescriptor for the IdP's entityID (an AttributeAuthority, say)
// kept the IdP's signing certificate under that entityID, for SPs that
// merge or index entities by it. Refused now.
func TestAttackDuplicateEntity(t *testing.T) {
	idp, hk := keys()
	ed := strings.TrimPrefix(idpMetadataXML(), "")
	ed = strings.Replace(ed, ` xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`, "", 1)
	aa := `<md:EntityDescriptor entityID="` + testIssuer + `"><md:AttributeAuthorityDescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(idp.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:AttributeService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="` + testIssuer + `/aa"/></md:AttributeAuthorityDescriptor></md:EntityDescriptor>`
	doc := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` + ed + aa + `</md:EntitiesDescriptor>`
	if _, err := ParseIdPMetadata([]byte(doc)); err != nil {
		t.Fatalf("the premise: idphooks reads it: %v", err)
	}
	out, err := PublishIdPMetadata([]byte(doc), PublishOptions{Signing: []*x509.Certificate{hk.cert}})
	if err == nil && strings.Contains(string(out), b64(idp.cert)) {
		t.Fatalf("the IdP's certificate is published under its entityID:\n%s", out)
	}
	if err == nil {
		t.Fatal("published")
	}
}
