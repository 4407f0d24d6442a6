package saml

import (
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// signedDescriptor is Keycloak's descriptor with an ID, signed at its
// root by the test IdP's key (a metadata signing key of its own, in a
// federation).
func signedDescriptor(t testing.TB, attrs string) string {
	t.Helper()
	raw := strings.Replace(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `entityID=`, `ID="ID_kc1" `+attrs+`entityID=`, 1)
	return idpSign(t, raw, "ds", "ID_kc1")
}

// metadataServer serves metadata at every path, body until serve
// changes it; it stops with the test.
func metadataServer(t testing.TB, body string) (url string, serve func(string)) {
	var current atomic.Value
	current.Store(body)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write([]byte(current.Load().(string)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(b string) { current.Store(b) }
}

// swapIdPCert puts idphooks' certificate in place of the IdP's signing
// one in its KeyDescriptor (not the Signature's KeyInfo).
func swapIdPCert(t testing.TB, x string) string {
	t.Helper()
	_, hk := keys()
	kd := regexpFind(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `<ds:X509Certificate>[^<]*</ds:X509Certificate>`)
	if strings.Count(x, kd) != 1 {
		t.Fatal("no KeyDescriptor certificate to swap")
	}
	return strings.Replace(x, kd, "<ds:X509Certificate>"+b64(hk.cert)+"</ds:X509Certificate>", 1)
}

func metadataTrust() MetadataTrust {
	idp, _ := keys()
	return MetadataTrust{Certificates: []*x509.Certificate{idp.cert}}
}

// TestVerifyIdPMetadata: a document signed at its root with a configured
// certificate is used, less its comments; without certificates any
// document is used as it came.
func TestVerifyIdPMetadata(t *testing.T) {
	signed := signedDescriptor(t, `validUntil="2036-11-30T09:12:00Z" `)
	withComment := strings.Replace(signed, "<md:IDPSSODescriptor", "<!-- a comment --><md:IDPSSODescriptor", 1)
	for _, x := range []string{signed, withComment} {
		out, err := metadataTrust().VerifyIdPMetadata([]byte(x))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "a comment") {
			t.Error("a comment no signature covers is kept")
		}
		md, err := ParseIdPMetadata(out)
		if err != nil || !strings.HasSuffix(md.EntityID, "/realms/acme") || len(md.Signing) != 1 {
			t.Fatalf("%v %+v", err, md)
		}
	}
	unsigned := pubTestdata(t, "keycloak-26.7-descriptor.xml")
	if out, err := (MetadataTrust{}).VerifyIdPMetadata(unsigned); err != nil || string(out) != string(unsigned) {
		t.Errorf("without certificates: %v", err)
	}
}

// TestVerifyIdPMetadataRefused: with a configured certificate, what is
// unsigned, signed by another key, changed after signing, signed with a
// refused algorithm, or shaped so that the signed element and the one
// used could differ is refused.
func TestVerifyIdPMetadataRefused(t *testing.T) {
	signed := signedDescriptor(t, "")
	_, hk := keys()
	// The attack the option is for: the IdP's signing certificate swapped
	// for the attacker's in a document fetched over a network.
	swapped := swapIdPCert(t, signed)
	byOther := func() string {
		raw := strings.Replace(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `entityID=`, `ID="ID_kc1" entityID=`, 1)
		doc := etree.NewDocument()
		_ = doc.ReadFromString(raw)
		doc.Root().InsertChildAt(0, signFor(t, doc.Root(), hk, "ds"))
		s, _ := doc.WriteToString()
		return s
	}()
	sha1 := func() string {
		idp, _ := keys()
		raw := strings.Replace(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `entityID=`, `ID="ID_kc1" entityID=`, 1)
		doc := etree.NewDocument()
		_ = doc.ReadFromString(raw)
		ctx, _ := dsig.NewSigningContext(idp.key, [][]byte{idp.cert.Raw})
		_ = ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod)
		ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
		sig, err := ctx.ConstructSignature(doc.Root().Copy(), true)
		if err != nil {
			t.Fatal(err)
		}
		doc.Root().InsertChildAt(0, sig)
		s, _ := doc.WriteToString()
		return s
	}()
	sig := regexpFind(signed, `(?s)<ds:Signature .*?</ds:Signature>`)
	sigLast := strings.Replace(strings.Replace(signed, sig, "", 1), "</md:EntityDescriptor>", sig+"</md:EntityDescriptor>", 1)
	// The signature of an inner element's ID put on the root.
	otherRef := func() string {
		raw := strings.Replace(string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), `entityID=`, `ID="ID_kc1" entityID=`, 1)
		raw = strings.Replace(raw, "<md:IDPSSODescriptor ", `<md:IDPSSODescriptor ID="ID_inner" `, 1)
		s := idpSign(t, raw, "ds", "ID_inner")
		inner := regexpFind(s, `(?s)<ds:Signature .*?</ds:Signature>`)
		s = strings.Replace(s, inner, "", 1)
		return strings.Replace(s, `entityID="http://127.0.0.1:8080/realms/acme">`, `entityID="http://127.0.0.1:8080/realms/acme">`+inner, 1)
	}()
	cases := map[string]struct {
		xml  string
		want error
	}{
		"unsigned":                 {string(pubTestdata(t, "keycloak-26.7-descriptor.xml")), ErrMetadataUnsigned},
		"signed by another key":    {byOther, ErrSignature},
		"signing cert swapped":     {swapped, ErrSignature},
		"rsa-sha1":                 {sha1, ErrAlgorithm},
		"signature last":           {sigLast, ErrWrapping},
		"reference to an inner ID": {otherRef, ErrWrapping},
		"duplicate ID":             {strings.Replace(signed, "<md:IDPSSODescriptor ", `<md:IDPSSODescriptor ID="ID_kc1" `, 1), ErrWrapping},
		"validUntil past":          {signedDescriptor(t, `validUntil="2020-01-01T00:00:00Z" `), ErrExpired},
		"a DOCTYPE":                {`<!DOCTYPE x [<!ENTITY a "b">]>` + signed, ErrDoctype},
		"not metadata":             {kcSigned(t, SignedResponse), ErrStructure},
		"two root signatures":      {strings.Replace(signed, sig, sig+sig, 1), ErrWrapping},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := metadataTrust().VerifyIdPMetadata([]byte(c.xml))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestIdPSignedMetadata: a file that does not verify fails at load; a URL
// whose document stops verifying keeps the copy in hand and logs why;
// the metadata the interceptor serves is signed by idphooks, and
// verifies with its certificate alone.
func TestIdPSignedMetadata(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(file, pubTestdata(t, "keycloak-26.7-descriptor.xml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIdPWith(file, IdPOptions{Trust: metadataTrust()}); !errors.Is(err, ErrMetadataUnsigned) {
		t.Fatalf("unsigned file: %v", err)
	}

	good := signedDescriptor(t, "")
	url, serve := metadataServer(t, good)
	core, logs := observer.New(zapcore.InfoLevel)
	p, err := NewIdPWith(url+"/descriptor", IdPOptions{Trust: metadataTrust(), Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	md, err := p.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_, hk := keys()
	serve(swapIdPCert(t, good))
	p.doc.Invalidate()
	again, err := p.Metadata(t.Context())
	if err != nil || again != md {
		t.Fatalf("the copy in hand is not kept: %v", err)
	}
	if got := logs.FilterMessageSnippet("IdP metadata refused").All(); len(got) != 1 || !strings.Contains(got[0].ContextMap()["error"].(string), "does not verify") {
		t.Fatalf("log %+v", got)
	}
	// A fresh IdP whose first fetch is refused has nothing to serve.
	p2, _ := NewIdPWith(url+"/descriptor", IdPOptions{Trust: metadataTrust()})
	if _, err := p2.Metadata(t.Context()); !errors.Is(err, ErrSignature) {
		t.Errorf("first fetch refused: %v", err)
	}

	// Served through the interceptor: re-signed by idphooks.
	serve(good)
	h := newHarness(t, "", func(c *Config) {
		ip, err := NewIdPWith(url+"/descriptor", IdPOptions{Trust: metadataTrust()})
		if err != nil {
			t.Fatal(err)
		}
		c.IdP = ip
		c.MetadataPaths = []string{"/md"}
	})
	h.page = func(w http.ResponseWriter, r *http.Request) { t.Errorf("metadata request reached the IdP") }
	served := h.do(t, "GET", "/md").Body.Bytes()
	if _, err := (MetadataTrust{Certificates: []*x509.Certificate{hk.cert}}).VerifyIdPMetadata(served); err != nil {
		t.Fatalf("served metadata does not verify with idphooks' certificate: %v\n%s", err, served)
	}
	if _, err := metadataTrust().VerifyIdPMetadata(served); err == nil {
		t.Error("served metadata verifies with the upstream's metadata key")
	}
}

// TestIdPNotesUnverifiedSignature: a signed document used without
// idp_metadata_certificate says once that its signature is not checked;
// an unsigned one says nothing.
func TestIdPNotesUnverifiedSignature(t *testing.T) {
	dir := t.TempDir()
	for name, x := range map[string]string{"signed": signedDescriptor(t, ""), "unsigned": string(pubTestdata(t, "keycloak-26.7-descriptor.xml"))} {
		core, logs := observer.New(zapcore.InfoLevel)
		file := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(file, []byte(x), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewIdPWith(file, IdPOptions{Logger: zap.New(core)}); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"signed": 1, "unsigned": 0}[name]
		if n := logs.FilterMessageSnippet("signature is not checked").Len(); n != want {
			t.Errorf("%s: %d lines, want %d", name, n, want)
		}
	}
}

// otherEntity is an SP's EntityDescriptor a federation lists beside the
// IdP, relying on the aggregate's namespace declarations.
const otherEntity = `<md:EntityDescriptor ID="ID_other" entityID="https://other.test/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
	`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://other.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`

// federationAggregate is an unsigned EntitiesDescriptor (attrs on it)
// holding another entity and Keycloak's descriptor with the ID ID_kc1,
// which takes its md and ds namespaces from the aggregate; sign lists
// the IDs the federation's key signs.
func federationAggregate(t testing.TB, attrs string, sign ...string) string {
	t.Helper()
	ed := string(pubTestdata(t, "keycloak-26.7-descriptor.xml"))
	ed = strings.Replace(ed, ` xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`, "", 1)
	ed = strings.Replace(ed, ` xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`, "", 1)
	ed = strings.Replace(ed, `entityID=`, `ID="ID_kc1" entityID=`, 1)
	x := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="ID_fed" Name="urn:example:federation"` + attrs + `>` +
		otherEntity + ed + `</md:EntitiesDescriptor>`
	if len(sign) == 0 {
		return x
	}
	return idpSign(t, x, "ds", sign...)
}

// TestVerifyEntitySignedAggregate: an aggregate whose root is unsigned
// and whose IdP EntityDescriptor is signed by the federation's key is
// used for that EntityDescriptor alone, as a document of its own that
// still verifies; the IdP built from it serves it re-signed by idphooks.
// An SP's entity signed so is read the same way.
func TestVerifyEntitySignedAggregate(t *testing.T) {
	x := federationAggregate(t, ` validUntil="2036-01-01T00:00:00Z"`, "ID_kc1")
	out, err := metadataTrust().VerifyIdPMetadata([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := doc.Root(); r.Tag != "EntityDescriptor" || r.SelectAttrValue("ID", "") != "ID_kc1" || strings.Contains(string(out), "other.test") || strings.Contains(string(out), "urn:example:federation") {
		t.Fatalf("not the IdP's EntityDescriptor alone:\n%s", out)
	}
	if _, err := metadataTrust().VerifyIdPMetadata(out); err != nil {
		t.Errorf("what is used does not verify on its own: %v\n%s", err, out)
	}
	md, err := ParseIdPMetadata(out)
	if err != nil || !strings.HasSuffix(md.EntityID, "/realms/acme") || len(md.Signing) != 1 {
		t.Fatalf("%v %+v", err, md)
	}

	file := filepath.Join(t.TempDir(), "federation.xml")
	if err := os.WriteFile(file, []byte(x), 0o600); err != nil {
		t.Fatal(err)
	}
	_, hk := keys()
	h := newHarness(t, "", func(c *Config) {
		ip, err := NewIdPWith(file, IdPOptions{Trust: metadataTrust()})
		if err != nil {
			t.Fatal(err)
		}
		c.IdP = ip
		c.MetadataPaths = []string{"/md"}
	})
	served := h.do(t, "GET", "/md").Body.Bytes()
	if _, err := (MetadataTrust{Certificates: []*x509.Certificate{hk.cert}}).VerifyIdPMetadata(served); err != nil || strings.Contains(string(served), "other.test") {
		t.Fatalf("served metadata: %v\n%s", err, served)
	}

	// The SP's own entity, signed inside an unsigned aggregate.
	_, sp := encKeys()
	spx := strings.Replace(spMetadata(""), `entityID=`, `ID="ID_sp1" entityID=`, 1)
	spx = strings.Replace(spx, ` xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`, "", 1)
	agg := idpSign(t, `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`+otherEntity+spx+`</md:EntitiesDescriptor>`, "ds", "ID_sp1")
	spOut, err := metadataTrust().VerifySPMetadata([]byte(agg), testSP)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ParseSPEncryption(spOut, testSP); err != nil || !e.Certificate.Equal(sp.cert) {
		t.Fatalf("%v %+v", err, e)
	}
}

// TestVerifyEntitySignedAggregateRefused: the entity's signature is held
// to the root's rules, and nothing else of the aggregate stands in for
// it.
func TestVerifyEntitySignedAggregateRefused(t *testing.T) {
	signed := federationAggregate(t, "", "ID_kc1")
	sig := regexpFind(signed, `(?s)<ds:Signature .*?</ds:Signature>`)
	_, hk := keys()
	byOther := func() string {
		doc := etree.NewDocument()
		_ = doc.ReadFromString(federationAggregate(t, ""))
		ed := doc.FindElement("//EntityDescriptor[@ID='ID_kc1']")
		ed.InsertChildAt(0, signFor(t, ed, hk, "ds"))
		s, _ := doc.WriteToString()
		return s
	}()
	// The other entity's signature moved onto the IdP's.
	otherRef := func() string {
		s := federationAggregate(t, "", "ID_other")
		inner := regexpFind(s, `(?s)<ds:Signature .*?</ds:Signature>`)
		s = strings.Replace(s, inner, "", 1)
		return strings.Replace(s, `entityID="http://127.0.0.1:8080/realms/acme">`, `entityID="http://127.0.0.1:8080/realms/acme">`+inner, 1)
	}()
	unsig := strings.Replace(signed, sig, "", 1)
	end := strings.LastIndex(unsig, "</md:EntityDescriptor>")
	sigLast := unsig[:end] + sig + unsig[end:]
	cases := map[string]struct {
		xml  string
		want error
	}{
		"no signature anywhere":           {federationAggregate(t, ""), ErrMetadataUnsigned},
		"only another entity signed":      {federationAggregate(t, "", "ID_other"), ErrMetadataUnsigned},
		"signed by another key":           {byOther, ErrSignature},
		"signing cert swapped":            {swapIdPCert(t, signed), ErrSignature},
		"signature last":                  {sigLast, ErrWrapping},
		"reference to another entity":     {otherRef, ErrWrapping},
		"its ID repeated elsewhere":       {strings.Replace(signed, `ID="ID_other"`, `ID="ID_kc1"`, 1), ErrWrapping},
		"two signatures on the entity":    {strings.Replace(signed, sig, sig+sig, 1), ErrWrapping},
		"a root Signature not first":      {strings.Replace(signed, "</md:EntitiesDescriptor>", sig+"</md:EntitiesDescriptor>", 1), ErrWrapping},
		"the aggregate's validUntil past": {federationAggregate(t, ` validUntil="2020-01-01T00:00:00Z"`, "ID_kc1"), ErrExpired},
		"the entity's validUntil past":    {idpSign(t, strings.Replace(federationAggregate(t, ""), `ID="ID_kc1"`, `ID="ID_kc1" validUntil="2020-01-01T00:00:00Z"`, 1), "ds", "ID_kc1"), ErrExpired},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := metadataTrust().VerifyIdPMetadata([]byte(c.xml))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}
