package caddymodule

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idphooks/idphooks/interceptors/saml"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir, name string, key any, pub any) (certFile, keyFile string, der []byte) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, der
}

// writeIdPMetadata writes a minimal IdP descriptor naming cert.
func writeIdPMetadata(t *testing.T, dir string, certDER []byte) string {
	t.Helper()
	md := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="http://idp.test/realms/acme">` +
		`<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` +
		base64.StdEncoding.EncodeToString(certDER) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="http://idp.test/realms/acme/protocol/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	p := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(p, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestProvisionSAMLOnly: a saml block without upstream provisions the
// SAML interceptor alone, with an RSA key set of its own in Caddy's
// storage.
func TestProvisionSAMLOnly(t *testing.T) {
	ctx, root := provisionContext(t)
	dir := t.TempDir()
	k := rsaKey(t)
	_, _, der := writeCert(t, dir, "idp", k, &k.PublicKey)
	h := &Handler{StatePath: filepath.Join(dir, "state.db"), Signing: &SigningConfig{Algorithm: "ES256"},
		SAML: &SAMLConfig{IdPMetadata: writeIdPMetadata(t, dir, der)}}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.saml == nil || h.oidc != nil {
		t.Fatalf("saml=%v oidc=%v, want SAML alone", h.saml != nil, h.oidc != nil)
	}
	// The OIDC keys are ES256 here; SAML's are RSA, in a set of their own.
	b, err := os.ReadFile(filepath.Join(root, "idphooks", "keys-saml", "jwks.json"))
	if err != nil {
		t.Fatalf("SAML keys not in Caddy storage: %v", err)
	}
	if !strings.Contains(string(b), `"RSA"`) {
		t.Errorf("SAML key set is not RSA: %.200s", b)
	}
}

func TestProvisionSAMLErrors(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	k := rsaKey(t)
	certFile, keyFile, der := writeCert(t, dir, "idp", k, &k.PublicKey)
	md := writeIdPMetadata(t, dir, der)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert, ecKey, _ := writeCert(t, dir, "ec", ek, &ek.PublicKey)
	for _, tc := range []struct {
		name string
		c    SAMLConfig
		want string
	}{
		{"missing metadata file", SAMLConfig{IdPMetadata: filepath.Join(dir, "nope.xml")}, "nope.xml"},
		{"metadata not XML", SAMLConfig{IdPMetadata: certFile}, "IdP metadata"},
		{"ECDSA certificate", SAMLConfig{IdPMetadata: md, CertificateFile: ecCert, KeyFile: ecKey}, "the key must be RSA"},
		{"key of another certificate", SAMLConfig{IdPMetadata: md, CertificateFile: certFile, KeyFile: ecKey}, "certificate"},
		{"missing SP encryption certificate", SAMLConfig{IdPMetadata: md, SPs: map[string]*SAMLSPConfig{"urn:a": {EncryptionCertificate: filepath.Join(dir, "sp.crt")}}}, "sp urn:a: encryption_certificate"},
		{"ECDSA SP encryption certificate", SAMLConfig{IdPMetadata: md, SPs: map[string]*SAMLSPConfig{"urn:a": {EncryptionCertificate: ecCert}}}, "must hold an RSA key"},
		{"metadata certificate missing", SAMLConfig{IdPMetadata: md, IdPMetadataCertificates: []string{filepath.Join(dir, "nope.crt")}}, "idp_metadata_certificate"},
		{"metadata certificate not PEM", SAMLConfig{IdPMetadata: md, IdPMetadataCertificates: []string{md}}, "idp_metadata_certificate " + md + ": no PEM certificate"},
		{"metadata unsigned", SAMLConfig{IdPMetadata: md, IdPMetadataCertificates: []string{certFile}}, "metadata is not signed"},
		{"ECDSA decryption key", SAMLConfig{IdPMetadata: md, Decrypt: true, DecryptionCertificateFile: ecCert, DecryptionKeyFile: ecKey}, "decryption_certificate: the key must be RSA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			h := &Handler{StatePath: filepath.Join(t.TempDir(), "state.db"), SAML: &c}
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Files the operator supplies sign instead of generated keys.
	h := &Handler{StatePath: filepath.Join(dir, "state.db"), SAML: &SAMLConfig{IdPMetadata: md, CertificateFile: certFile, KeyFile: keyFile}}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
}

// TestProvisionSAMLDecrypt: decrypt keeps an RSA encryption key set of its
// own in Caddy's storage, whose certificate (for key encipherment, not
// the signing one) the served metadata names as the IdP's encryption key;
// the SP's encryption certificate is read; files the operator supplies
// decrypt instead.
func TestProvisionSAMLDecrypt(t *testing.T) {
	ctx, root := provisionContext(t)
	dir := t.TempDir()
	k := rsaKey(t)
	_, _, der := writeCert(t, dir, "idp", k, &k.PublicKey)
	md := writeIdPMetadata(t, dir, der)
	sk := rsaKey(t)
	spCert, _, _ := writeCert(t, dir, "sp", sk, &sk.PublicKey)
	served := func(h *Handler) *saml.IdPMetadata {
		t.Helper()
		w := httptest.NewRecorder()
		next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			t.Error("the metadata request reached the IdP")
			return nil
		})
		if err := h.ServeHTTP(w, httptest.NewRequest("GET", DefaultSAMLMetadataPath, nil), next); err != nil || w.Code != 200 {
			t.Fatalf("%v %d %s", err, w.Code, w.Body)
		}
		m, err := saml.ParseIdPMetadata(w.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	h := &Handler{StatePath: filepath.Join(dir, "state.db"), SAML: &SAMLConfig{IdPMetadata: md, Decrypt: true,
		SPs: map[string]*SAMLSPConfig{"urn:a": {EncryptionCertificate: spCert, EncryptionAlgorithms: []string{"aes128-gcm", "rsa-oaep"}}}}}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	b, err := os.ReadFile(filepath.Join(root, "idphooks", "keys-saml-enc", "jwks.json"))
	if err != nil || !bytes.Contains(b, []byte(`"RSA"`)) {
		t.Fatalf("SAML encryption keys not in Caddy storage: %v %.100s", err, b)
	}
	m := served(h)
	if len(m.Encryption) != 1 || len(m.Signing) != 1 || m.Encryption[0].Equal(m.Signing[0]) ||
		m.Encryption[0].KeyUsage != x509.KeyUsageKeyEncipherment || m.Encryption[0].PublicKeyAlgorithm != x509.RSA {
		t.Fatalf("%d encryption, %d signing certificates: want idphooks' own encryption one", len(m.Encryption), len(m.Signing))
	}

	// Without decrypt, the IdP's own encryption keys (none here) stay.
	plain := &Handler{StatePath: filepath.Join(t.TempDir(), "state.db"), SAML: &SAMLConfig{IdPMetadata: md}}
	if err := plain.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plain.Cleanup() })
	if m := served(plain); len(m.Encryption) != 0 {
		t.Errorf("%d encryption certificates without decrypt", len(m.Encryption))
	}

	ek := rsaKey(t)
	encCert, encKey, encDER := writeCert(t, dir, "enc", ek, &ek.PublicKey)
	files := &Handler{StatePath: filepath.Join(t.TempDir(), "state.db"), SAML: &SAMLConfig{IdPMetadata: md, Decrypt: true,
		DecryptionCertificateFile: encCert, DecryptionKeyFile: encKey}}
	if err := files.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = files.Cleanup() })
	if m := served(files); len(m.Encryption) != 1 || !bytes.Equal(m.Encryption[0].Raw, encDER) {
		t.Errorf("the operator's encryption certificate is not the one published")
	}
}

// TestSAMLSPFromMetadata: an sp block's metadata file gives the SP's
// encryption certificate and chooses the algorithms from what it lists;
// encryption_certificate and encryption_algorithms override it; bad
// metadata fails the config.
func TestSAMLSPFromMetadata(t *testing.T) {
	dir := t.TempDir()
	sk, ok := rsaKey(t), rsaKey(t)
	spCertFile, _, spDER := writeCert(t, dir, "sp", sk, &sk.PublicKey)
	otherFile, _, _ := writeCert(t, dir, "other", ok, &ok.PublicKey)
	const id = "https://crm.example.com/saml/metadata"
	md := func(name, methods string) string {
		p := filepath.Join(dir, name+".xml")
		x := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + id + `">` +
			`<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` +
			base64.StdEncoding.EncodeToString(spDER) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` + methods + `</md:KeyDescriptor>` +
			`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://crm.example.com/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`
		if err := os.WriteFile(p, []byte(x), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	em := func(a string) string { return `<md:EncryptionMethod Algorithm="` + a + `"/>` }
	cbc := md("cbc", em(saml.AES128CBC)+em(saml.RSAOAEPMGF1P))
	sp, err := samlSP(id, &SAMLSPConfig{Metadata: cbc}, saml.SPMetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sp.EncryptionCertificate.Raw, spDER) || !slices.Equal(sp.EncryptionAlgorithms, []string{saml.AES128CBC, saml.RSAOAEPMGF1P}) {
		t.Errorf("from metadata: %v", sp.EncryptionAlgorithms)
	}
	sp, err = samlSP(id, &SAMLSPConfig{Metadata: cbc, EncryptionCertificate: otherFile, EncryptionAlgorithms: []string{"aes256-gcm"}}, saml.SPMetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sp.EncryptionCertificate.Raw, spDER) || !slices.Equal(sp.EncryptionAlgorithms, []string{saml.AES256GCM}) {
		t.Errorf("overridden: %v", sp.EncryptionAlgorithms)
	}
	// Only 3DES listed: an error, unless encryption_algorithms says what
	// to use.
	tdes := md("3des", em("http://www.w3.org/2001/04/xmlenc#tripledes-cbc"))
	if _, err := samlSP(id, &SAMLSPConfig{Metadata: tdes}, saml.SPMetadataOptions{}); err == nil || !strings.Contains(err.Error(), "tripledes-cbc") || !strings.Contains(err.Error(), "sp "+id) {
		t.Errorf("3DES only: %v", err)
	}
	if sp, err := samlSP(id, &SAMLSPConfig{Metadata: tdes, EncryptionAlgorithms: []string{"aes256-cbc"}}, saml.SPMetadataOptions{}); err != nil || !bytes.Equal(sp.EncryptionCertificate.Raw, spDER) {
		t.Errorf("3DES with encryption_algorithms: %v", err)
	}
	// By URL: fetched when first needed, not at build.
	if sp, err := samlSP(id, &SAMLSPConfig{Metadata: "http://127.0.0.1:1/sp.xml"}, saml.SPMetadataOptions{}); err != nil || sp.Metadata == nil || sp.EncryptionCertificate != nil {
		t.Errorf("by URL: %v %+v", err, sp)
	}
	for name, c := range map[string]*SAMLSPConfig{
		"missing file":  {Metadata: filepath.Join(dir, "nope.xml")},
		"not metadata":  {Metadata: spCertFile},
		"another SP id": {Metadata: md("other", "")},
	} {
		if name == "another SP id" {
			if _, err := samlSP("urn:other", c, saml.SPMetadataOptions{}); err == nil || !strings.Contains(err.Error(), "no SPSSODescriptor for urn:other") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if _, err := samlSP(id, c, saml.SPMetadataOptions{}); err == nil || !strings.Contains(err.Error(), "metadata") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// signMetadataFile writes the metadata file in with an ID on its root,
// signed there by key (a federation's, its certificate der), next to it
// and returns its path.
func signMetadataFile(t *testing.T, in string, key *rsa.PrivateKey, der []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromFile(in); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	root.CreateAttr("ID", "ID_md")
	sc, err := dsig.NewSigningContext(key, [][]byte{der})
	if err != nil {
		t.Fatal(err)
	}
	sc.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	sig, err := sc.ConstructSignature(root.Copy(), true)
	if err != nil {
		t.Fatal(err)
	}
	root.InsertChildAt(0, sig)
	out := strings.TrimSuffix(in, ".xml") + "-signed.xml"
	if err := doc.WriteToFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSAMLSPSignedMetadata: an sp block's metadata_certificate accepts
// SP metadata signed with its key, under the algorithms allow-list, and
// refuses a file signed otherwise, or not, at load; by URL, the fetch is
// refused and nothing is read of it.
func TestSAMLSPSignedMetadata(t *testing.T) {
	dir := t.TempDir()
	sk, mk, ok := rsaKey(t), rsaKey(t), rsaKey(t)
	_, _, spDER := writeCert(t, dir, "sp", sk, &sk.PublicKey)
	mdCert, _, mdDER := writeCert(t, dir, "md", mk, &mk.PublicKey)
	otherCert, _, _ := writeCert(t, dir, "other", ok, &ok.PublicKey)
	const id = "https://crm.example.com/saml/metadata"
	unsigned := filepath.Join(dir, "sp.xml")
	x := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + id + `">` +
		`<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` +
		base64.StdEncoding.EncodeToString(spDER) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://crm.example.com/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`
	if err := os.WriteFile(unsigned, []byte(x), 0o600); err != nil {
		t.Fatal(err)
	}
	signed := signMetadataFile(t, unsigned, mk, mdDER)
	sha512, _ := samlAllowList([]string{"rsa-sha512"})
	for _, tc := range []struct {
		name       string
		sc         SAMLSPConfig
		algorithms []string
		want       string
	}{
		{"signed with its key", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{mdCert}}, nil, ""},
		{"with a rollover's two", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{otherCert, mdCert}}, nil, ""},
		{"unsigned", SAMLSPConfig{Metadata: unsigned, MetadataCertificates: []string{mdCert}}, nil, "metadata is not signed"},
		{"signed by another key", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{otherCert}}, nil, "does not verify"},
		{"rsa-sha256 not allowed", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{mdCert}}, sha512, "algorithm refused"},
		{"certificate missing", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{filepath.Join(dir, "nope.crt")}}, nil, "metadata_certificate " + filepath.Join(dir, "nope.crt")},
		{"certificate not PEM", SAMLSPConfig{Metadata: signed, MetadataCertificates: []string{unsigned}}, nil, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, err := samlSP(id, &tc.sc, saml.SPMetadataOptions{Trust: saml.MetadataTrust{Algorithms: tc.algorithms}})
			if tc.want == "" {
				if err != nil || sp.EncryptionCertificate == nil || !bytes.Equal(sp.EncryptionCertificate.Raw, spDER) {
					t.Fatalf("%v %+v", err, sp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sp "+id) {
				t.Fatalf("samlSP: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// By URL: an unsigned document is refused at its fetch.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(x)) }))
	defer srv.Close()
	sp, err := samlSP(id, &SAMLSPConfig{Metadata: srv.URL + "/sp.xml", MetadataCertificates: []string{mdCert}}, saml.SPMetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.Metadata.Check(t.Context()); !errors.Is(err, saml.ErrMetadataUnsigned) {
		t.Errorf("an unsigned SP metadata by URL: %v", err)
	}
}

// TestProvisionSAMLSignedMetadata: idp_metadata_certificate accepts a file
// signed with its key, under the algorithms allow-list, and refuses one
// signed otherwise.
func TestProvisionSAMLSignedMetadata(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	k, mk := rsaKey(t), rsaKey(t)
	_, _, der := writeCert(t, dir, "idp", k, &k.PublicKey)
	mdCert, _, mdDER := writeCert(t, dir, "md", mk, &mk.PublicKey)
	signed := signMetadataFile(t, writeIdPMetadata(t, dir, der), mk, mdDER)
	for _, tc := range []struct {
		name       string
		algorithms []string
		want       string
	}{
		{"signed with its key", nil, ""},
		{"rsa-sha256 not allowed", []string{"rsa-sha512"}, "algorithm refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{StatePath: filepath.Join(t.TempDir(), "state.db"), SAML: &SAMLConfig{IdPMetadata: signed,
				IdPMetadataCertificates: []string{mdCert}, Algorithms: tc.algorithms}}
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Provision: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestProvisionSAMLSPMetadataDown: an SP metadata URL that does not answer
// at start is a warning, not a failed config load.
func TestProvisionSAMLSPMetadataDown(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	k := rsaKey(t)
	_, _, der := writeCert(t, dir, "idp", k, &k.PublicKey)
	h := &Handler{StatePath: filepath.Join(dir, "state.db"), SAML: &SAMLConfig{IdPMetadata: writeIdPMetadata(t, dir, der),
		SPs: map[string]*SAMLSPConfig{"urn:a": {Metadata: "http://127.0.0.1:1/sp.xml", EncryptionAlgorithms: []string{"aes256-gcm"}}}}}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
}
