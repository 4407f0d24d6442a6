package saml

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var (
	reAssertion = regexp.MustCompile(`(?s)<saml:Assertion .*</saml:Assertion>`)
	reSignature = regexp.MustCompile(`(?s)<dsig:Signature .*?</dsig:Signature>`)
)

func evilAssertion(signed string) string {
	a := reAssertion.FindString(signed)
	a = strings.Replace(a, `ID="ID_a1b2c3"`, `ID="ID_evil"`, 1)
	return strings.Replace(a, ">alice<", ">admin<", 1)
}

func stripSig(s string) string { return reSignature.ReplaceAllString(s, "") }

// TestWrappingCorpus: the XSW shapes of "On Breaking SAML" (Somorovsky et
// al., 2012) and later advisories, each refused before any signature
// result is used.
func TestWrappingCorpus(t *testing.T) {
	sa := kcSigned(t, SignedAssertion)
	sr := kcSigned(t, SignedResponse)
	orig := reAssertion.FindString(sa)
	evil := evilAssertion(sa)
	sigA := reSignature.FindString(orig)
	respSig := reSignature.FindString(sr)
	status := `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>`
	errResp := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="ID_err" Version="2.0" IssueInstant="` + ts(0) + `"><saml:Issuer>` + testIssuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/></samlp:Status></samlp:Response>`

	cases := map[string]struct {
		xml  string
		want error
	}{
		// XSW1: evil unsigned Response as root, the signed one inside its Signature.
		"xsw1": {strings.Replace(strings.Replace(sr, `ID="ID_r9f8e7"`, `ID="ID_evilresp"`, 1), "</dsig:SignatureValue>", "</dsig:SignatureValue><dsig:Object>"+strings.Replace(sr, "</dsig:Signature>", "", 0)+"</dsig:Object>", 1), ErrWrapping},
		// XSW2: the signed Response as a sibling before the signature.
		"xsw2": {strings.Replace(strings.Replace(sr, `ID="ID_r9f8e7"`, `ID="ID_evilresp"`, 1), "<dsig:Signature ", stripSig(sr)+"<dsig:Signature ", 1), ErrWrapping},
		// XSW3: an evil Assertion before the signed one. samlify
		// CVE-2025-47949 and node-saml CVE-2025-54419 ("assertions loaded
		// from unsigned parts of a validly signed document", as their
		// advisories summarise them) are this family: an SP reading another
		// assertion than the one verified. Here a document holds one
		// assertion, the one signed or inside the signed Response, and that
		// very element is what is read and passed on.
		"xsw3": {strings.Replace(sa, orig, stripSig(evil)+orig, 1), ErrWrapping},
		// XSW4: an evil Assertion wrapping the signed one.
		"xsw4": {strings.Replace(sa, orig, strings.Replace(stripSig(evil), "</saml:Assertion>", orig+"</saml:Assertion>", 1), 1), ErrWrapping},
		// XSW5: the evil Assertion carries the copied signature, the original follows unsigned.
		"xsw5": {strings.Replace(sa, orig, evil+stripSig(orig), 1), ErrWrapping},
		// XSW6: the original Assertion inside the evil one's Signature.
		"xsw6": {strings.Replace(sa, orig, strings.Replace(evil, "</dsig:SignatureValue>", "</dsig:SignatureValue><dsig:Object>"+orig+"</dsig:Object>", 1), 1), ErrWrapping},
		// XSW7: the original Assertion hidden in Extensions.
		"xsw7": {strings.Replace(sa, orig, "<samlp:Extensions>"+orig+"</samlp:Extensions>"+stripSig(evil), 1), ErrWrapping},
		// XSW8: the original, unsigned, inside an Object of the evil one's Signature.
		"xsw8": {strings.Replace(sa, orig, strings.Replace(evil, "</dsig:SignatureValue>", "</dsig:SignatureValue><dsig:Object>"+stripSig(orig)+"</dsig:Object>", 1), 1), ErrWrapping},
		// The one signed Assertion moved out of the Response's children.
		"assertion in extensions": {strings.Replace(sa, orig, "<samlp:Extensions>"+orig+"</samlp:Extensions>", 1), ErrWrapping},
		// ruby-saml CVE-2024-45409 shape: the signed Response's Signature moved into Status.
		"response signature misplaced":     {strings.Replace(strings.Replace(sr, respSig, "", 1), status, `<samlp:Status>`+respSig+`<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>`, 1), ErrWrapping},
		"comment in NameID":                {strings.Replace(sa, ">alice<", ">ali<!---->ce<", 1), ErrWrapping},
		"CDATA split NameID":               {strings.Replace(sa, ">alice<", ">ali<![CDATA[ce]]><", 1), ErrWrapping},
		"comment in AttributeValue":        {strings.Replace(sa, ">admin<", ">ad<!-- x -->min<", 1), ErrWrapping},
		"two assertions":                   {strings.Replace(sa, orig, orig+stripSig(evil), 1), ErrWrapping},
		"encrypted and plain":              {strings.Replace(sa, orig, orig+`<saml:EncryptedAssertion/>`, 1), ErrWrapping},
		"encrypted":                        {strings.Replace(sa, orig, `<saml:EncryptedAssertion/>`, 1), ErrEncrypted},
		"unsigned assertion, signed decoy": {strings.Replace(sa, orig, stripSig(orig)+"<samlp:Extensions>"+strings.Replace(orig, `ID="ID_a1b2c3"`, `ID="ID_decoy"`, 1)+"</samlp:Extensions>", 1), ErrWrapping},
		"signature over another ID":        {strings.Replace(sa, `URI="#ID_a1b2c3"`, `URI="#ID_r9f8e7"`, 1), ErrWrapping},
		"empty reference URI":              {strings.Replace(sa, `URI="#ID_a1b2c3"`, `URI=""`, 1), ErrWrapping},
		"two references":                   {strings.Replace(sa, "</dsig:Reference>", "</dsig:Reference>"+regexp.MustCompile(`(?s)<dsig:Reference .*?</dsig:Reference>`).FindString(sa), 1), ErrWrapping},
		"duplicate IDs":                    {strings.Replace(sa, `ID="ID_r9f8e7"`, `ID="ID_a1b2c3"`, 1), ErrWrapping},
		"signed error + decoy signature":   {strings.Replace(errResp, "<samlp:Status>", "<samlp:Extensions>"+sigA+"</samlp:Extensions><samlp:Status>", 1), ErrWrapping},
		"unsigned error":                   {errResp, ErrUnsigned},
		"unsigned":                         {stripSig(sa), ErrUnsigned},
		"tampered":                         {strings.Replace(sa, ">admin<", ">root<", 1), ErrSignature},
		"tampered signed response":         {strings.Replace(sr, ">admin<", ">root<", 1), ErrSignature},
		"signature not after Issuer":       {strings.Replace(strings.Replace(sa, sigA, "", 1), "</saml:Subject>", "</saml:Subject>"+sigA, 1), ErrWrapping},
		"not a Response":                   {strings.Replace(strings.Replace(sa, "<samlp:Response ", "<samlp:LogoutResponse ", 1), "</samlp:Response>", "</samlp:LogoutResponse>", 1), ErrStructure},
		"failed status with assertion":     {strings.Replace(sa, "status:Success", "status:Responder", 1), ErrStructure},
		// goxmldsig CVE-2026-33487 (GHSA-479m-364c-43vc, fixed in 1.6.0, we
		// use 1.6.1): with several References, validateSignature checked
		// the digest of another referenced element than the one used. A
		// Reference to the Response before the Assertion's own: refused, as
		// every Signature with more than one Reference is.
		"goxmldsig CVE-2026-33487 two references": {strings.Replace(sa, "<dsig:Reference ", strings.Replace(regexp.MustCompile(`(?s)<dsig:Reference .*?</dsig:Reference>`).FindString(sa), `URI="#ID_a1b2c3"`, `URI="#ID_r9f8e7"`, 1)+"<dsig:Reference ", 1), ErrWrapping},
		// xml-crypto CVE-2025-29774: a second SignedInfo, one verified by
		// the signature value, the other read for the digests.
		"xml-crypto CVE-2025-29774 two SignedInfo": {strings.Replace(sa, "</dsig:SignedInfo>", "</dsig:SignedInfo>"+regexp.MustCompile(`(?s)<dsig:SignedInfo>.*?</dsig:SignedInfo>`).FindString(sa), 1), ErrWrapping},
		// ruby-saml CVE-2025-25291/25292 and CVE-2025-66567/66568: one
		// parser verified the signature and another read the assertion, and
		// a document type declaration (an ATTLIST that one honours, an
		// entity) or canonicalization quirks made them see different
		// trees. idphooks has one parser and reads the element it verified;
		// any markup declaration is refused before parsing.
		"ruby-saml CVE-2025-25291 ATTLIST": {`<!DOCTYPE samlp:Response [<!ATTLIST saml:Assertion ID ID #IMPLIED>]>` + sa, ErrDoctype},
		"ruby-saml CVE-2025-25292 entity":  {`<!DOCTYPE samlp:Response [<!ENTITY n "admin">]>` + strings.Replace(sa, ">alice<", ">&n;<", 1), ErrDoctype},
		// xml-crypto CVE-2025-29775: a comment inside DigestValue.
		"comment in DigestValue": {strings.Replace(sa, "<dsig:DigestValue>", "<dsig:DigestValue><!-- x -->", 1), ErrWrapping},
		"comment in SignedInfo":  {strings.Replace(sa, "<dsig:SignedInfo>", "<dsig:SignedInfo><!-- x -->", 1), ErrWrapping},
		"PI in SignatureValue":   {strings.Replace(sa, "<dsig:SignatureValue>", "<dsig:SignatureValue><?x y?>", 1), ErrWrapping},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := verifier().Verify([]byte(c.xml))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}

func TestOtherCertificateRefused(t *testing.T) {
	_, h := keys()
	v := verifier()
	v.Certificates = v.Certificates[:0:0]
	v.Certificates = append(v.Certificates, h.cert)
	if _, err := v.Verify([]byte(kcSigned(t, SignedAssertion))); !errors.Is(err, ErrSignature) {
		t.Fatal(err)
	}
}
