package saml

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// kcDescriptor is shaped like Keycloak 26.7's realm descriptor: md:
// prefix, unsigned, one signing KeyDescriptor with KeyName and X509Data,
// every endpoint at /realms/R/protocol/saml.
func kcDescriptor(cert string) string {
	loc := testIssuer + "/protocol/saml"
	var eps strings.Builder
	for _, b := range []string{"HTTP-POST", "HTTP-Redirect", "SOAP", "HTTP-Artifact"} {
		fmt.Fprintf(&eps, `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:%s" Location="%s"/>`, b, loc)
	}
	for _, b := range []string{"HTTP-POST", "HTTP-Redirect", "SOAP", "HTTP-Artifact"} {
		fmt.Fprintf(&eps, `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:%s" Location="%s"/>`, b, loc)
	}
	return `<md:EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + testIssuer + `">` +
		`<md:IDPSSODescriptor WantAuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>kid-1</ds:KeyName><ds:X509Data><ds:X509Certificate>` + cert + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="` + loc + `/resolve" index="0"/>` +
		eps.String() +
		`<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>` +
		`</md:IDPSSODescriptor></md:EntityDescriptor>`
}

func certB64() string {
	idp, _ := keys()
	// Wrapped, as some IdPs publish it.
	s := base64.StdEncoding.EncodeToString(idp.cert.Raw)
	return s[:64] + "\n  " + s[64:]
}

func TestParseIdPMetadataKeycloak(t *testing.T) {
	md, err := ParseIdPMetadata([]byte(kcDescriptor(certB64())))
	if err != nil {
		t.Fatal(err)
	}
	idp, _ := keys()
	if md.EntityID != testIssuer || len(md.Signing) != 1 || !md.Signing[0].Equal(idp.cert) || len(md.Encryption) != 0 {
		t.Fatalf("%+v", md)
	}
	if len(md.SSO) != 4 || len(md.SLO) != 4 || md.SSO[0].Binding != "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" {
		t.Fatalf("endpoints %+v %+v", md.SSO, md.SLO)
	}
	if got := md.Paths(); !slices.Equal(got, []string{"/realms/acme/protocol/saml"}) {
		t.Fatalf("paths %v", got)
	}
}

func TestParseIdPMetadataShapes(t *testing.T) {
	cert := certB64()
	kd := func(use string) string {
		u := ""
		if use != "" {
			u = ` use="` + use + `"`
		}
		return `<KeyDescriptor` + u + `><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + cert + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>`
	}
	entity := func(id, body string) string {
		return `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + id + `">` + body + `</EntityDescriptor>`
	}
	idpSSO := func(body string) string {
		return `<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + body + `</IDPSSODescriptor>`
	}
	// No use: both signing and encryption (SimpleSAMLphp publishes so).
	md, err := ParseIdPMetadata([]byte(entity("urn:idp", idpSSO(kd("")))))
	if err != nil || len(md.Signing) != 1 || len(md.Encryption) != 1 {
		t.Fatalf("%+v %v", md, err)
	}
	// One IdP among SPs in an EntitiesDescriptor.
	sp := entity("urn:sp", `<SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>`)
	all := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + sp + entity("urn:idp", idpSSO(kd("signing"))) + `</EntitiesDescriptor>`
	if md, err := ParseIdPMetadata([]byte(all)); err != nil || md.EntityID != "urn:idp" {
		t.Fatalf("%+v %v", md, err)
	}
	for name, tc := range map[string]struct {
		doc  string
		want error
	}{
		"doctype":         {`<!DOCTYPE x [<!ENTITY a "b">]>` + entity("urn:idp", idpSSO(kd("signing"))), ErrDoctype},
		"no signing cert": {entity("urn:idp", idpSSO(kd("encryption"))), ErrStructure},
		"not an IdP":      {sp, ErrStructure},
		"two IdPs":        {`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + entity("urn:a", idpSSO(kd(""))) + entity("urn:b", idpSSO(kd(""))) + `</EntitiesDescriptor>`, ErrStructure},
		"no entityID":     {entity("", idpSSO(kd(""))), ErrStructure},
		"bad certificate": {strings.Replace(entity("urn:idp", idpSSO(kd(""))), cert, "AAAA", 1), ErrMalformed},
		"other namespace": {`<EntityDescriptor xmlns="urn:x" entityID="a"><IDPSSODescriptor/></EntityDescriptor>`, ErrStructure},
		"html error page": {`<html><body>Not found</body></html>`, ErrStructure},
	} {
		if _, err := ParseIdPMetadata([]byte(tc.doc)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
