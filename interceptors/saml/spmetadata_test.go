package saml

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// crewjamSPMetadata is the metadata crewjam's SP publishes for itself.
func crewjamSPMetadata(t testing.TB) []byte {
	t.Helper()
	b, err := xml.Marshal(encSP(t).Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// spMetadata is an SP's metadata with an encryption KeyDescriptor
// listing methods (raw EncryptionMethod elements).
func spMetadata(methods string) string {
	_, sp := encKeys()
	return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + testSP + `">` +
		`<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(otherEnc.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + b64(sp.cert) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` + methods + `</md:KeyDescriptor>` +
		`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + testACS + `" index="1"/>` +
		`</md:SPSSODescriptor></md:EntityDescriptor>`
}

func em(alg string) string { return `<md:EncryptionMethod Algorithm="` + alg + `"/>` }

// TestParseSPEncryption: the SP's encryption certificate and what it
// lists decide how idphooks encrypts to it: GCM before CBC, CBC only when
// listed (and no GCM), XML Encryption 1.1's rsa-oaep when listed with
// SHA-256 (or no hashes), the defaults for a kind not listed.
func TestParseSPEncryption(t *testing.T) {
	encKeys()
	kcOAEP := `<md:EncryptionMethod Algorithm="` + RSAOAEP + `"><ds:DigestMethod Algorithm="` + DigestSHA256 + `"/><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></md:EncryptionMethod>`
	sha1OAEP := `<md:EncryptionMethod Algorithm="` + RSAOAEP + `"><xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha1"/></md:EncryptionMethod>`
	for name, tc := range map[string]struct {
		md   string
		want []string
	}{
		"crewjam's own":                  {string(crewjamSPMetadata(t)), []string{AES256GCM, RSAOAEP}},
		"nothing listed":                 {spMetadata(""), nil},
		"CBC only":                       {spMetadata(em(AES128CBC) + em(AES256CBC)), []string{AES256CBC, RSAOAEPMGF1P}},
		"CBC and GCM, CBC first":         {spMetadata(em(AES256CBC) + em(AES128GCM)), []string{AES128GCM, RSAOAEPMGF1P}},
		"key transport only":             {spMetadata(em(RSAOAEPMGF1P)), []string{AES256GCM, RSAOAEPMGF1P}},
		"Keycloak's rsa-oaep":            {spMetadata(em(AES256GCM) + kcOAEP + em(RSAOAEPMGF1P)), []string{AES256GCM, RSAOAEP}},
		"rsa-oaep with SHA-1 beside":     {spMetadata(sha1OAEP + em(RSAOAEPMGF1P)), []string{AES256GCM, RSAOAEPMGF1P}},
		"3DES beside GCM":                {spMetadata(em(NSXMLEnc+"tripledes-cbc") + em(AES256GCM)), []string{AES256GCM, RSAOAEPMGF1P}},
		"digest methods are not listed":  {spMetadata(em(DigestSHA256) + em(AES192GCM)), []string{AES192GCM, RSAOAEPMGF1P}},
		"unknown URIs are not listed":    {spMetadata(em("urn:example:own") + em(AES128GCM)), []string{AES128GCM, RSAOAEPMGF1P}},
		"rsa-1_5 beside rsa-oaep-mgf1p":  {spMetadata(em(RSA15) + em(RSAOAEPMGF1P)), []string{AES256GCM, RSAOAEPMGF1P}},
		"an EntitiesDescriptor of three": {`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:EntityDescriptor entityID="urn:other"><md:SPSSODescriptor protocolSupportEnumeration="x"/></md:EntityDescriptor>` + strings.Replace(spMetadata(em(AES128GCM)), ` xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`, "", 1) + `</md:EntitiesDescriptor>`, []string{AES128GCM, RSAOAEPMGF1P}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSPEncryption([]byte(tc.md), testSP)
			if err != nil {
				t.Fatal(err)
			}
			if got.Certificate == nil || !got.Certificate.Equal(spEnc.cert) || !slices.Equal(got.Algorithms, tc.want) {
				t.Errorf("certificate %v, algorithms %v, want %v (listed %v)", got.Certificate != nil, got.Algorithms, tc.want, got.Listed)
			}
		})
	}
}

// TestParseSPEncryptionRefused: an SP that lists only what idphooks does
// not encrypt with, or metadata that is not the SP's, is an error at
// load; one with no encryption key wants no encryption.
func TestParseSPEncryptionRefused(t *testing.T) {
	encKeys()
	for name, tc := range map[string]struct {
		md   string
		want error
	}{
		"3DES only":                  {spMetadata(em(NSXMLEnc + "tripledes-cbc")), ErrAlgorithm},
		"rsa-1_5 only":               {spMetadata(em(AES256GCM) + em(RSA15)), ErrAlgorithm},
		"key wrap only":              {spMetadata(em(NSXMLEnc + "kw-aes256")), ErrAlgorithm},
		"rsa-oaep with SHA-1 only":   {spMetadata(`<md:EncryptionMethod Algorithm="` + RSAOAEP + `"><ds:DigestMethod Algorithm="` + DigestSHA1 + `"/></md:EncryptionMethod>`), ErrAlgorithm},
		"another SP":                 {strings.Replace(spMetadata(""), testSP, "urn:other", 1), ErrStructure},
		"an IdP":                     {idpMetadataXML(), ErrStructure},
		"not metadata":               {kcSigned(t, SignedAssertion), ErrStructure},
		"a DOCTYPE":                  {`<!DOCTYPE x [<!ENTITY a "b">]>` + spMetadata(""), ErrDoctype},
		"not XML":                    {"nope", ErrNotOneRoot},
		"certificate not base64":     {strings.Replace(spMetadata(""), b64(spEnc.cert), "!!", 1), ErrMalformed},
		"encryption key without one": {strings.Replace(spMetadata(""), `<ds:KeyInfo><ds:X509Data><ds:X509Certificate>`+b64(spEnc.cert)+`</ds:X509Certificate></ds:X509Data></ds:KeyInfo>`, "", 1), ErrStructure},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSPEncryption([]byte(tc.md), testSP)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	signingOnly := strings.Replace(spMetadata(""), regexpFind(spMetadata(""), `<md:KeyDescriptor use="encryption">.*?</md:KeyDescriptor>`), "", 1)
	if got, err := ParseSPEncryption([]byte(signingOnly), testSP); err != nil || got.Certificate != nil {
		t.Errorf("signing key only: %v, %+v", err, got)
	}
}

// TestSPMetadataRoundTrip: what crewjam's SP publishes, read by
// ParseSPEncryption, encrypts what it then decrypts and accepts.
func TestSPMetadataRoundTrip(t *testing.T) {
	got, err := ParseSPEncryption(crewjamSPMetadata(t), testSP)
	if err != nil {
		t.Fatal(err)
	}
	r, err := encVerifier().Verify([]byte(kcEncrypted(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	r.EncryptTo = &Encryption{Certificate: got.Certificate, Algorithms: got.Algorithms}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if d, k := encryptionOf(t, out); d != AES256GCM || k != RSAOAEP {
		t.Errorf("encrypted with %s, %s", d, k)
	}
	acceptedByEncSP(t, out)
}

// TestSPMetadataByURL: an SP's metadata by URL is fetched by idphooks
// when first needed and decides how what goes to the SP is encrypted;
// explicit algorithms win; a refetch that fails keeps the copy in hand;
// with none to be had, nothing is sent to the SP (502).
func TestSPMetadataByURL(t *testing.T) {
	var fail atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(crewjamSPMetadata(t))
	}))
	defer srv.Close()
	m, err := NewSPMetadata(srv.URL+"/sp.xml", testSP, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if fetches.Load() != 0 {
		t.Fatal("fetched before first use")
	}
	send := func(t *testing.T, sp SP) (*httptest.ResponseRecorder, []byte) {
		t.Helper()
		h := newHarness(t, "", func(c *Config) {
			c.Decryption = testDecryption{}
			c.SPs = map[string]SP{testSP: sp}
		})
		h.page = serve("text/html", postPage(kcEncrypted(t, SignedAssertion), ""))
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusOK {
			return w, nil
		}
		msg, _ := sentMessage(t, w.Body.Bytes())
		return w, msg
	}
	_, msg := send(t, SP{Metadata: m})
	if d, k := encryptionOf(t, msg); d != AES256GCM || k != RSAOAEP {
		t.Errorf("encrypted with %s, %s, want what crewjam's metadata lists", d, k)
	}
	acceptedByEncSP(t, msg)
	_, msg = send(t, SP{Metadata: m, EncryptionAlgorithms: []string{AES128CBC}})
	if d, k := encryptionOf(t, msg); d != AES128CBC || k != RSAOAEPMGF1P {
		t.Errorf("with explicit algorithms: %s, %s", d, k)
	}

	fail.Store(true)
	m.doc.Invalidate()
	if _, msg = send(t, SP{Metadata: m}); msg == nil {
		t.Fatal("a failed refetch lost the copy in hand")
	}
	acceptedByEncSP(t, msg)

	down, _ := NewSPMetadata(srv.URL+"/sp.xml", testSP, 0, false)
	if w, _ := send(t, SP{Metadata: down}); w.Code != http.StatusBadGateway {
		t.Errorf("no SP metadata to be had: %d, want 502", w.Code)
	}
	if _, err := NewSPMetadata("sp.xml", testSP, 0, false); err == nil {
		t.Error("a relative URL accepted")
	}
}

// signedSPMetadata is crewjam's SP metadata with an ID, signed at its
// root by the federation's key (the test IdP's, as metadataTrust has it).
func signedSPMetadata(t testing.TB) string {
	t.Helper()
	raw := strings.Replace(string(crewjamSPMetadata(t)), ` entityID=`, ` ID="ID_sp1" entityID=`, 1)
	return idpSign(t, raw, "ds", "ID_sp1")
}

// swapSPCert puts a key idphooks would encrypt to in place of the SP's
// encryption certificate: the attack metadata_certificate is for.
func swapSPCert(t testing.TB, x string) string {
	t.Helper()
	_, sp := encKeys()
	if strings.Count(x, b64(sp.cert)) != 1 {
		t.Fatal("no SP encryption certificate to swap")
	}
	return strings.Replace(x, b64(sp.cert), b64(otherEnc.cert), 1)
}

// TestVerifySPMetadata: an SP's metadata signed at its root (its
// EntityDescriptor, or a federation's EntitiesDescriptor holding it) by a
// metadata_certificate is read for its encryption key, less its comments.
func TestVerifySPMetadata(t *testing.T) {
	_, sp := encKeys()
	other := strings.Replace(spMetadata(""), testSP, "https://other.test/sp", 1)
	aggregate := idpSign(t, `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="ID_fed" Name="urn:example:federation">`+
		other+string(crewjamSPMetadata(t))+`</md:EntitiesDescriptor>`, "ds", "ID_fed")
	withComment := strings.Replace(signedSPMetadata(t), "<KeyDescriptor", "<!-- a comment --><KeyDescriptor", 1)
	for name, x := range map[string]string{"EntityDescriptor": signedSPMetadata(t), "EntitiesDescriptor": aggregate, "with a comment": withComment} {
		t.Run(name, func(t *testing.T) {
			out, err := metadataTrust().VerifySPMetadata([]byte(x), testSP)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(out), "a comment") {
				t.Error("a comment no signature covers is kept")
			}
			e, err := ParseSPEncryption(out, testSP)
			if err != nil || !e.Certificate.Equal(sp.cert) {
				t.Fatalf("%v %+v", err, e)
			}
		})
	}
	unsigned := crewjamSPMetadata(t)
	if out, err := (MetadataTrust{}).VerifySPMetadata(unsigned, testSP); err != nil || string(out) != string(unsigned) {
		t.Errorf("without certificates: %v", err)
	}
}

// TestVerifySPMetadataRefused: with a metadata_certificate, an SP's
// metadata is held to the IdP metadata's rules: unsigned, signed by
// another key, changed since signed (its encryption key swapped), a
// refused algorithm, a wrapping shape, validUntil past, or signed for
// another SP, it is refused.
func TestVerifySPMetadataRefused(t *testing.T) {
	signed := signedSPMetadata(t)
	_, hk := keys()
	base := strings.Replace(string(crewjamSPMetadata(t)), ` entityID=`, ` ID="ID_sp1" entityID=`, 1)
	byOther := func() string {
		doc := etree.NewDocument()
		_ = doc.ReadFromString(base)
		doc.Root().InsertChildAt(0, signFor(t, doc.Root(), hk, "ds"))
		s, _ := doc.WriteToString()
		return s
	}()
	sig := regexpFind(signed, `(?s)<ds:Signature .*?</ds:Signature>`)
	sigLast := strings.Replace(strings.Replace(signed, sig, "", 1), "</EntityDescriptor>", sig+"</EntityDescriptor>", 1)
	otherRef := func() string {
		raw := strings.Replace(base, "<SPSSODescriptor ", `<SPSSODescriptor ID="ID_inner" `, 1)
		s := idpSign(t, raw, "ds", "ID_inner")
		inner := regexpFind(s, `(?s)<ds:Signature .*?</ds:Signature>`)
		s = strings.Replace(s, inner, "", 1)
		return strings.Replace(s, `entityID="`+testSP+`">`, `entityID="`+testSP+`">`+inner, 1)
	}()
	past := idpSign(t, regexp.MustCompile(`validUntil="[^"]*"`).ReplaceAllString(base, `validUntil="2020-01-01T00:00:00Z"`), "ds", "ID_sp1")
	cases := map[string]struct {
		xml  string
		want error
	}{
		"unsigned":                 {string(crewjamSPMetadata(t)), ErrMetadataUnsigned},
		"signed by another key":    {byOther, ErrSignature},
		"encryption key swapped":   {swapSPCert(t, signed), ErrSignature},
		"signature last":           {sigLast, ErrWrapping},
		"reference to an inner ID": {otherRef, ErrWrapping},
		"duplicate ID":             {strings.Replace(signed, "<SPSSODescriptor ", `<SPSSODescriptor ID="ID_sp1" `, 1), ErrWrapping},
		"two root signatures":      {strings.Replace(signed, sig, sig+sig, 1), ErrWrapping},
		"validUntil past":          {past, ErrExpired},
		"a DOCTYPE":                {`<!DOCTYPE x [<!ENTITY a "b">]>` + signed, ErrDoctype},
		"for another SP":           {strings.ReplaceAll(signed, testSP, "https://other.test/sp"), ErrStructure},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := metadataTrust().VerifySPMetadata([]byte(c.xml), testSP)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	// The algorithm allow-list is the IdP's: rsa-sha256 refused when only
	// rsa-sha512 is allowed.
	strict := metadataTrust()
	strict.Algorithms = []string{RSASHA512, DigestSHA512}
	if _, err := strict.VerifySPMetadata([]byte(signed), testSP); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("rsa-sha256 under an rsa-sha512 allow-list: %v", err)
	}
}

// TestSPMetadataSignedByURL: an SP metadata URL with a
// metadata_certificate: a verified document decides the encryption, and
// crewjam's SP reads what idphooks sends; one whose encryption key was
// swapped is refused with an error line, keeping the copy in hand; with
// none in hand, messages to the SP get the "try again" page, as when the
// metadata cannot be fetched.
func TestSPMetadataSignedByURL(t *testing.T) {
	var body atomic.Value
	body.Store(signedSPMetadata(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	core, logs := observer.New(zapcore.InfoLevel)
	opts := SPMetadataOptions{Trust: metadataTrust(), Logger: zap.New(core)}
	m, err := NewSPMetadataWith(srv.URL+"/sp.xml", testSP, opts)
	if err != nil {
		t.Fatal(err)
	}
	send := func(t *testing.T, m *SPMetadata) (*httptest.ResponseRecorder, []byte) {
		t.Helper()
		h := newHarness(t, "", func(c *Config) {
			c.Decryption = testDecryption{}
			c.SPs = map[string]SP{testSP: {Metadata: m}}
		})
		h.page = serve("text/html", postPage(kcEncrypted(t, SignedAssertion), ""))
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusOK {
			return w, nil
		}
		msg, _ := sentMessage(t, w.Body.Bytes())
		return w, msg
	}
	_, msg := send(t, m)
	if msg == nil {
		t.Fatal("a verified SP metadata refused")
	}
	if d, k := encryptionOf(t, msg); d != AES256GCM || k != RSAOAEP {
		t.Errorf("encrypted with %s, %s, want what crewjam's metadata lists", d, k)
	}
	acceptedByEncSP(t, msg)

	body.Store(swapSPCert(t, signedSPMetadata(t)))
	m.doc.Invalidate()
	if _, msg = send(t, m); msg == nil {
		t.Fatal("a refused refetch lost the copy in hand")
	}
	acceptedByEncSP(t, msg)
	got := logs.FilterMessageSnippet("SP metadata refused").All()
	if len(got) != 1 || !strings.Contains(got[0].Message, "stays in use") || got[0].ContextMap()["sp"] != testSP ||
		!strings.Contains(got[0].ContextMap()["error"].(string), "does not verify") {
		t.Fatalf("log %+v", got)
	}

	for name, x := range map[string]string{"swapped": swapSPCert(t, signedSPMetadata(t)), "unsigned": string(crewjamSPMetadata(t))} {
		t.Run(name, func(t *testing.T) {
			body.Store(x)
			fresh, _ := NewSPMetadataWith(srv.URL+"/sp.xml", testSP, opts)
			w, _ := send(t, fresh)
			if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "try again") {
				t.Errorf("no verified SP metadata to be had: %d %s", w.Code, w.Body)
			}
			if l := logs.FilterMessageSnippet("refused until a fetched copy verifies").TakeAll(); len(l) == 0 {
				t.Error("no log line says why")
			}
		})
	}
}
