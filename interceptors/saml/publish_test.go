package saml

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// The testdata descriptors are written by hand after what the two IdPs
// serve: Keycloak 26.7's /realms/acme/protocol/saml/descriptor (default
// and md namespaces both declared, ds on the root, KeyName + X509Data,
// explicit end tags, every endpoint on /protocol/saml) and SimpleSAMLphp
// 1.19's saml2/idp/metadata.php as internal/testidp configures it (XML
// declaration, ds declared on each KeyInfo, the one certificate as a
// signing and an encryption KeyDescriptor, SSO after NameIDFormat, a
// technical contact). Their certificates are their own, not the test keys.

const (
	kcOrigin  = "http://127.0.0.1:8080"
	sspOrigin = "http://127.0.0.1:8081"
	pubOrigin = "https://auth.example.com"
)

var nextKey = sync.OnceValue(func() keyPair { return newKeyPair("idphooks next") })

func pubTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pubOptions are idphooks' current and next certificates, the upstream
// origin moved to the public one.
func pubOptions(from string) PublishOptions {
	_, h := keys()
	return PublishOptions{Signing: []*x509.Certificate{h.cert, nextKey().cert}, FromOrigin: from, ToOrigin: pubOrigin}
}

func sameCerts(got, want []*x509.Certificate) bool {
	return slices.EqualFunc(got, want, func(a, b *x509.Certificate) bool { return a.Equal(b) })
}

func b64(c *x509.Certificate) string { return base64.StdEncoding.EncodeToString(c.Raw) }

// crewjamIdP reads out as crewjam's SP does, and returns the signing
// certificates of every IDPSSODescriptor, and its first one.
func crewjamIdP(t *testing.T, out []byte) (*crewjam.EntityDescriptor, []string) {
	t.Helper()
	var ed crewjam.EntityDescriptor
	if err := xml.Unmarshal(out, &ed); err != nil {
		t.Fatalf("crewjam: %v\n%s", err, out)
	}
	if len(ed.IDPSSODescriptors) == 0 {
		t.Fatalf("crewjam sees no IDPSSODescriptor\n%s", out)
	}
	var signing []string
	for _, d := range ed.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use == "signing" || kd.Use == "" {
				for _, c := range kd.KeyInfo.X509Data.X509Certificates {
					signing = append(signing, strings.Join(strings.Fields(c.Data), ""))
				}
			}
		}
	}
	return &ed, signing
}

// verifyMetadata checks out's root signature with goxmldsig and cert,
// and returns the element it verified.
func verifyMetadata(t *testing.T, out []byte, cert *x509.Certificate) (*etree.Element, error) {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(out); err != nil {
		t.Fatal(err)
	}
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	return vctx.Validate(doc.Root())
}

func signatures(t *testing.T, out []byte) int {
	t.Helper()
	doc, err := Parse(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, el := range doc.FindElements("//Signature") {
		if el.NamespaceURI() == NSDSig {
			n++
		}
	}
	return n
}

var blankLine = regexp.MustCompile(`\n[ \t]*\n`)

func TestPublishIdPMetadataKeycloak(t *testing.T) {
	raw := pubTestdata(t, "keycloak-26.7-descriptor.xml")
	up, err := ParseIdPMetadata(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := pubOptions(kcOrigin)
	o.Signer = signer() // an unsigned upstream document stays unsigned
	out, err := PublishIdPMetadata(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ParseIdPMetadata(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if md.EntityID != up.EntityID || !sameCerts(md.Signing, o.Signing) || len(md.Encryption) != 0 {
		t.Fatalf("entity %q signing %d encryption %d\n%s", md.EntityID, len(md.Signing), len(md.Encryption), out)
	}
	if len(md.SSO) != 4 || len(md.SLO) != 4 {
		t.Fatalf("endpoints %+v %+v", md.SSO, md.SLO)
	}
	for _, e := range slices.Concat(md.SSO, md.SLO) {
		if e.Location != pubOrigin+"/realms/acme/protocol/saml" {
			t.Errorf("%s at %s", e.Binding, e.Location)
		}
	}
	if !slices.Equal(md.Paths(), up.Paths()) {
		t.Errorf("paths %v, upstream %v", md.Paths(), up.Paths())
	}
	s := string(out)
	for _, gone := range []string{b64(up.Signing[0]), "KeyName"} {
		if strings.Contains(s, gone) {
			t.Errorf("output still holds %.40s", gone)
		}
	}
	// Only the entityID, which responses carry as Issuer, stays upstream.
	if n := strings.Count(s, kcOrigin); n != 1 || md.EntityID != kcOrigin+"/realms/acme" {
		t.Errorf("%d mentions of the upstream origin", n)
	}
	if strings.Contains(s, "Signature") {
		t.Error("an unsigned descriptor came back signed")
	}
	// The document's md prefix, ds declared on our KeyInfo.
	if !strings.Contains(s, `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>`+b64(o.Signing[1])+`<`) {
		t.Errorf("our KeyDescriptor is not in the document's shape\n%s", s)
	}
	if blankLine.MatchString(s) {
		t.Errorf("indentation left behind\n%s", s)
	}

	ed, signing := crewjamIdP(t, out)
	if !slices.Equal(signing, []string{b64(o.Signing[0]), b64(o.Signing[1])}) {
		t.Errorf("crewjam's signing certificates are not ours")
	}
	idp := ed.IDPSSODescriptors[0]
	if len(idp.ArtifactResolutionServices) != 1 || idp.ArtifactResolutionServices[0].Location != pubOrigin+"/realms/acme/protocol/saml/resolve" {
		t.Errorf("artifact resolution %+v", idp.ArtifactResolutionServices)
	}
	if idp.WantAuthnRequestsSigned == nil || !*idp.WantAuthnRequestsSigned || len(idp.NameIDFormats) != 4 {
		t.Errorf("the rest of the descriptor changed: %+v", idp)
	}
}

func TestPublishIdPMetadataSimpleSAMLphp(t *testing.T) {
	raw := pubTestdata(t, "simplesamlphp-1.19-idp.xml")
	up, err := ParseIdPMetadata(raw)
	if err != nil {
		t.Fatal(err)
	}
	ssp := up.Signing[0]
	o := pubOptions(sspOrigin)
	out, err := PublishIdPMetadata(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ParseIdPMetadata(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// SimpleSAMLphp lists its one key for encryption too: an SP pooling
	// the entity's certificates would trust it for responses, so it goes.
	if !sameCerts(md.Signing, o.Signing) || len(md.Encryption) != 0 || bytes.Contains(out, []byte(b64(ssp))) {
		t.Fatalf("signing %d encryption %d\n%s", len(md.Signing), len(md.Encryption), out)
	}
	if md.SSO[0].Location != pubOrigin+"/saml2/idp/SSOService.php" || md.SLO[0].Location != pubOrigin+"/saml2/idp/SingleLogoutService.php" {
		t.Errorf("endpoints %+v %+v", md.SSO, md.SLO)
	}
	s := string(out)
	if !strings.HasPrefix(s, `<?xml version="1.0"?>`) || !strings.Contains(s, "<md:GivenName>idphooks tests</md:GivenName>") {
		t.Errorf("the rest of the document changed\n%s", s)
	}
	if blankLine.MatchString(s) {
		t.Errorf("indentation left behind\n%s", s)
	}
	ed, signing := crewjamIdP(t, out)
	if !slices.Equal(signing, []string{b64(o.Signing[0]), b64(o.Signing[1])}) {
		t.Errorf("crewjam's signing certificates are not ours")
	}
	if got := ed.IDPSSODescriptors[0].SingleSignOnServices[0].Location; got != pubOrigin+"/saml2/idp/SSOService.php" {
		t.Errorf("crewjam's SSO location %s", got)
	}

	// idphooks decrypting: the upstream certificate is gone altogether.
	enc := newKeyPair("idphooks encryption").cert
	o.Encryption = []*x509.Certificate{enc}
	out, err = PublishIdPMetadata(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	if md, err = ParseIdPMetadata(out); err != nil || !sameCerts(md.Signing, o.Signing) || !sameCerts(md.Encryption, o.Encryption) {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), b64(ssp)) {
		t.Error("the upstream certificate is still published")
	}
}

// federationIdP is an unprefixed (default namespace) IdP entity inside an
// EntitiesDescriptor beside an SP, with what the other rules are about: a
// KeyDescriptor without use, a misspelt use, an AttributeAuthority and a
// WS-Fed role with the upstream's signing key, a KeyAuthority, endpoints
// on the upstream origin written in other cases and on other origins.
func federationIdP(upstream string) string {
	kd := func(use, extra string) string {
		if use != "" {
			use = ` use="` + use + `"`
		}
		return `<KeyDescriptor` + use + `><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + upstream + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` + extra + `</KeyDescriptor>`
	}
	return `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" Name="urn:fed">` +
		`<Extensions><shibmd:KeyAuthority VerifyDepth="1"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + upstream + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></shibmd:KeyAuthority></Extensions>` +
		`<EntityDescriptor entityID="https://sp.example/sp"><SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + kd("signing", "") +
		`<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/not-ours" index="0"/></SPSSODescriptor></EntityDescriptor>` +
		`<EntityDescriptor entityID="https://idp.example.com/idp">` +
		`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		kd("", `<EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/>`) + kd("Signing", "") +
		`<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="HTTPS://IdP.Example.COM:443/slo?x=1#f" ResponseLocation="https://idp.example.com/slo/response"/>` +
		`<ManageNameIDService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example.com:8443/mni"/>` +
		`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location=" https://idp.example.com "/>` +
		`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://cdn.example.com/sso"/>` +
		`</IDPSSODescriptor>` +
		`<AttributeAuthorityDescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + kd("signing", "") + kd("encryption", "") +
		`<AttributeService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://idp.example.com/aa"/></AttributeAuthorityDescriptor>` +
		`<RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">` + kd("signing", "") + `</RoleDescriptor>` +
		`</EntityDescriptor></EntitiesDescriptor>`
}

func TestPublishIdPMetadataShapes(t *testing.T) {
	idpKP, h := keys()
	upstream := b64(idpKP.cert)
	o := PublishOptions{Signing: []*x509.Certificate{h.cert}, FromOrigin: "https://idp.example.com", ToOrigin: "https://login.example.com:8443/"}
	out, err := PublishIdPMetadata([]byte(federationIdP(upstream)), o)
	if err != nil {
		t.Fatal(err)
	}
	md, err := ParseIdPMetadata(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The use-less key signs: it goes whole, and so does every encryption
	// key of the same key pair.
	if !sameCerts(md.Signing, o.Signing) || len(md.Encryption) != 0 {
		t.Fatalf("signing %d encryption %d\n%s", len(md.Signing), len(md.Encryption), out)
	}
	doc, err := Parse(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	ents := children(doc.Root(), NSMetadata, "EntityDescriptor")
	sp, ed := ents[0], ents[1]
	kdOf := func(rd *etree.Element) (uses []string) {
		for _, kd := range children(rd, NSMetadata, "KeyDescriptor") {
			certs, err := keyCertificates(kd)
			if err != nil || len(certs) != 1 {
				t.Fatalf("%v %d", err, len(certs))
			}
			who := "upstream"
			if certs[0].Equal(h.cert) {
				who = "ours"
			}
			uses = append(uses, kd.SelectAttrValue("use", "")+"/"+who)
		}
		return uses
	}
	for tag, want := range map[string][]string{
		"IDPSSODescriptor":             {"signing/ours"},
		"AttributeAuthorityDescriptor": {"signing/ours"},
		"RoleDescriptor":               {"signing/ours"},
	} {
		if got := kdOf(child(ed, NSMetadata, tag)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", tag, got, want)
		}
	}
	if got := kdOf(child(sp, NSMetadata, "SPSSODescriptor")); !slices.Equal(got, []string{"signing/upstream"}) {
		t.Errorf("another entity's keys changed: %v", got)
	}
	if child(child(ed, NSMetadata, "IDPSSODescriptor"), NSMetadata, "KeyDescriptor").Space != "" ||
		!strings.Contains(string(out), `<KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>`+b64(h.cert)) ||
		strings.Contains(string(out), upstream) && strings.Count(string(out), upstream) != 1 {
		t.Errorf("keys not in the document's (unprefixed) shape\n%s", out)
	}
	if strings.Contains(string(out), "KeyAuthority") || strings.Contains(string(out), "Extensions") {
		t.Error("the upstream's trust anchor (or an empty Extensions) is still published")
	}
	var locs []string
	for _, e := range ed.FindElements(".//*[@Location]") {
		locs = append(locs, e.SelectAttrValue("Location", ""), e.SelectAttrValue("ResponseLocation", ""))
	}
	want := []string{
		"https://login.example.com:8443/slo?x=1#f", "https://login.example.com:8443/slo/response",
		"https://idp.example.com:8443/mni", "", // another port: another origin
		"https://login.example.com:8443", "",
		"https://cdn.example.com/sso", "",
		"https://login.example.com:8443/aa", "",
	}
	if !slices.Equal(locs, want) {
		t.Errorf("locations\n%q\nwant\n%q", locs, want)
	}
	if got := sp.FindElement(".//AssertionConsumerService").SelectAttrValue("Location", ""); got != "https://idp.example.com/not-ours" {
		t.Errorf("another entity's endpoint moved: %s", got)
	}

	// idphooks decrypting: the use-less key goes altogether.
	o.Encryption = []*x509.Certificate{h.cert}
	if out, err = PublishIdPMetadata([]byte(federationIdP(upstream)), o); err != nil {
		t.Fatal(err)
	}
	if md, err := ParseIdPMetadata(out); err != nil || !sameCerts(md.Signing, o.Signing) || !sameCerts(md.Encryption, o.Encryption) {
		t.Fatalf("%v\n%s", err, out)
	}

	// No KeyDescriptor at all: ours go after Extensions, before the rest.
	bare := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:Extensions/><md:SingleSignOnService Binding="b" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	if out, err = PublishIdPMetadata([]byte(bare), PublishOptions{Signing: o.Signing}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `<md:Extensions/><md:KeyDescriptor use="signing">`) || !strings.Contains(string(out), `Location="https://idp.example.com/sso"`) {
		t.Errorf("%s", out)
	}
}

func TestPublishIdPMetadataResigned(t *testing.T) {
	idpKP, h := keys()
	raw := strings.Replace(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `entityID=`, `ID="ID_kc1" validUntil="2036-11-30T09:12:00Z" cacheDuration="PT5M" entityID=`, 1)
	signed := idpSign(t, raw, "ds", "ID_kc1")
	if _, err := verifyMetadata(t, []byte(signed), idpKP.cert); err != nil {
		t.Fatalf("the upstream signature: %v", err)
	}
	o := pubOptions(kcOrigin)
	o.Signer = signer()
	out, err := PublishIdPMetadata([]byte(signed), o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifyMetadata(t, out, h.cert)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, err := verifyMetadata(t, out, idpKP.cert); err == nil {
		t.Error("the output verifies with the upstream key")
	}
	if n := signatures(t, out); n != 1 {
		t.Errorf("%d signatures", n)
	}
	// Read only what was verified: it names our keys and keeps the times.
	vdoc := etree.NewDocument()
	vdoc.SetRoot(got)
	vb, _ := vdoc.WriteToBytes()
	md, err := ParseIdPMetadata(vb)
	if err != nil || !sameCerts(md.Signing, o.Signing) || md.SSO[0].Location != pubOrigin+"/realms/acme/protocol/saml" {
		t.Fatalf("verified part: %v\n%s", err, vb)
	}
	if got.SelectAttrValue("ID", "") != "ID_kc1" || got.SelectAttrValue("validUntil", "") != "2036-11-30T09:12:00Z" || got.SelectAttrValue("cacheDuration", "") != "PT5M" {
		t.Errorf("root attributes %v", got.Attr)
	}
	ed, signing := crewjamIdP(t, out)
	if !slices.Equal(signing, []string{b64(o.Signing[0]), b64(o.Signing[1])}) || ed.CacheDuration != 5*time.Minute ||
		!ed.ValidUntil.Equal(time.Date(2036, 11, 30, 9, 12, 0, 0, time.UTC)) {
		t.Errorf("crewjam: %d signing, cache %s, valid until %s", len(signing), ed.CacheDuration, ed.ValidUntil)
	}

	// Only the entity of an EntitiesDescriptor without ID was signed,
	// and its extensions type values with xs: the root gets an ID and the
	// one signature, which keeps xs declared.
	const ext = `<Extensions><mdattr:EntityAttributes xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute"><saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="http://macedir.org/entity-category"><saml:AttributeValue xsi:type="xs:anyURI">http://refeds.org/category/research-and-scholarship</saml:AttributeValue></saml:Attribute></mdattr:EntityAttributes></Extensions>`
	inner := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><EntityDescriptor ID="_e1" entityID="urn:idp">` + ext +
		`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + b64(idpKP.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>` +
		`<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="http://127.0.0.1:8080/sso"/></IDPSSODescriptor></EntityDescriptor></EntitiesDescriptor>`
	out, err = PublishIdPMetadata([]byte(idpSign(t, inner, "ds", "_e1")), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, err = verifyMetadata(t, out, h.cert); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if id := got.SelectAttrValue("ID", ""); !strings.HasPrefix(id, "ID_") || got.Tag != "EntitiesDescriptor" {
		t.Errorf("verified <%s ID=%q>", got.Tag, id)
	}
	if n := signatures(t, out); n != 1 || !strings.Contains(string(out), `PrefixList="xs"`) {
		t.Errorf("%d signatures\n%s", n, out)
	}
	if v := got.FindElement(".//AttributeValue"); v == nil || lookupPrefix(v, "xs") != NSXS {
		t.Errorf("xs is not declared in what was verified")
	}

	// A signed upstream document and no signer to sign it anew.
	o.Signer = nil
	if _, err := PublishIdPMetadata([]byte(signed), o); err == nil || !strings.Contains(err.Error(), "no signer") {
		t.Errorf("no signer: %v", err)
	}
	o.Signer = &Signer{}
	if _, err := PublishIdPMetadata([]byte(signed), o); err == nil {
		t.Error("a signer without key signed")
	}
}

func TestPublishIdPMetadataRefuses(t *testing.T) {
	kc := string(pubTestdata(t, "keycloak-26.7-descriptor.xml"))
	good := pubOptions(kcOrigin)
	for name, tc := range map[string]struct {
		doc  string
		o    PublishOptions
		want error // nil: any error
	}{
		"garbage":         {"\x00\xffnot xml<<", good, ErrMalformed},
		"doctype":         {`<!DOCTYPE md:EntityDescriptor [<!ENTITY x "y">]>` + kc, good, ErrDoctype},
		"html page":       {`<html><body>Service unavailable</body></html>`, good, ErrStructure},
		"empty":           {``, good, ErrNotOneRoot},
		"two roots":       {kc + kc, good, ErrNotOneRoot},
		"no IdP":          {`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><SPSSODescriptor/></EntityDescriptor>`, good, ErrStructure},
		"no entityID":     {strings.Replace(kc, `entityID="http://127.0.0.1:8080/realms/acme"`, "", 1), good, ErrStructure},
		"duplicate ID":    {`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" ID="a" entityID="urn:idp"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/><IDPSSODescriptor ID="a"/></EntityDescriptor>`, PublishOptions{Signing: good.Signing, Signer: signer()}, ErrWrapping},
		"no certificate":  {kc, PublishOptions{FromOrigin: kcOrigin, ToOrigin: pubOrigin}, nil},
		"nil certificate": {kc, PublishOptions{Signing: []*x509.Certificate{nil}}, nil},
		"origin w/ path":  {kc, PublishOptions{Signing: good.Signing, FromOrigin: kcOrigin + "/realms/acme", ToOrigin: pubOrigin}, nil},
		"half a move":     {kc, PublishOptions{Signing: good.Signing, FromOrigin: kcOrigin}, nil},
		"no scheme":       {kc, PublishOptions{Signing: good.Signing, FromOrigin: "127.0.0.1:8080", ToOrigin: pubOrigin}, nil},
	} {
		out, err := PublishIdPMetadata([]byte(tc.doc), tc.o)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v (%.80s)", name, err, tc.want, out)
		}
	}
}

func TestOriginMove(t *testing.T) {
	m, err := newOriginMove("https://IdP.example.com:443", "https://auth.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"https://idp.example.com/sso":               "https://auth.example.com/sso",
		"HTTPS://IDP.EXAMPLE.COM/A/b?c=D":           "https://auth.example.com/A/b?c=D",
		"https://idp.example.com:443":               "https://auth.example.com",
		"https://idp.example.com?q#f":               "https://auth.example.com?q#f",
		"https://user@idp.example.com/x":            "https://auth.example.com/x",
		"\n  https://idp.example.com/%2Fx  \n":      "https://auth.example.com/%2Fx",
		"http://idp.example.com/sso":                "",
		"https://idp.example.com:8443/sso":          "",
		"https://idp.example.com.evil.test/sso":     "",
		"https://evil.test/https://idp.example.com": "",
		"/sso":                "",
		"urn:idp.example.com": "",
	} {
		got, ok := m.rewrite(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
	m, _ = newOriginMove("http://[::1]:8080", "https://auth.example.com")
	if got, _ := m.rewrite("http://[::1]:8080/realms/acme"); got != "https://auth.example.com/realms/acme" {
		t.Errorf("IPv6: %q", got)
	}
}

// fuzzPublishOptions move kcDescriptor's origin and can re-sign.
func fuzzPublishOptions() PublishOptions {
	_, h := keys()
	return PublishOptions{Signing: []*x509.Certificate{h.cert}, FromOrigin: "http://idp.test", ToOrigin: "https://auth.example", Signer: signer()}
}

// checkPublished is what must hold of any published document out made
// from in with o (one signing certificate): only our signing key in the
// IdP entity, no location left on o.FromOrigin, signed and verifiable with
// our key exactly when in was signed.
func checkPublished(t *testing.T, in, out []byte, o PublishOptions) {
	t.Helper()
	src, err := Parse(in, 0)
	if err != nil {
		t.Fatalf("published what does not parse: %v", err)
	}
	doc, err := Parse(out, 0)
	if err != nil {
		t.Fatalf("the output does not parse: %v\n%s", err, out)
	}
	ed, err := idpEntity(doc.Root())
	if err != nil {
		t.Fatalf("the output has no IdP: %v", err)
	}
	ours := o.Signing[0]
	for _, rd := range ed.ChildElements() {
		for _, kd := range children(rd, NSMetadata, "KeyDescriptor") {
			if strings.TrimSpace(kd.SelectAttrValue("use", "")) == "encryption" {
				continue
			}
			certs, err := keyCertificates(kd)
			if err != nil || len(certs) != 1 || !certs[0].Equal(ours) {
				t.Fatalf("a signing key not ours in <%s>: %v\n%s", rd.Tag, err, out)
			}
		}
	}
	move, _ := newOriginMove(o.FromOrigin, o.ToOrigin)
	for _, el := range ed.FindElements(".//*") {
		for _, a := range el.Attr {
			if _, on := move.rewrite(a.Value); on && a.Space == "" && (a.Key == "Location" || a.Key == "ResponseLocation") {
				t.Fatalf("%s still on the upstream origin: %q", el.Tag, a.Value)
			}
		}
	}
	switch signed := hasSignature(src.Root()); {
	case signed != hasSignature(doc.Root()):
		t.Fatalf("upstream signed %v, output signed %v", signed, !signed)
	case signed:
		if _, err := verifyMetadata(t, out, ours); err != nil {
			t.Fatalf("re-signed but does not verify: %v\n%s", err, out)
		}
	}
}

// TestPublishKeepsSeparateEncryptionKey: an upstream encryption key the
// IdP never signs with (Keycloak's realm enc key) stays for SPs that
// encrypt to the IdP; one it signs with goes.
func TestPublishKeepsSeparateEncryptionKey(t *testing.T) {
	idpKP, h := keys()
	enc := newKeyPair("idp encryption")
	md := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.com/idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(idpKP.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(enc.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(idpKP.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	out, err := PublishIdPMetadata([]byte(md), PublishOptions{Signing: []*x509.Certificate{h.cert}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseIdPMetadata(out)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCerts(got.Signing, []*x509.Certificate{h.cert}) || !sameCerts(got.Encryption, []*x509.Certificate{enc.cert}) {
		t.Errorf("signing %d, encryption %d (want ours, and the separate encryption key alone)\n%s", len(got.Signing), len(got.Encryption), out)
	}
}
