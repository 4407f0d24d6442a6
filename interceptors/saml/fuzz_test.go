package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"
)

// Fuzz targets for every parsing entry point: no input may panic or hang,
// and nothing refused may come back as verified.

func FuzzParse(f *testing.F) {
	f.Add([]byte(`<a x='>'><!-- <b> --><![CDATA[<c>]]></a>`))
	f.Add([]byte(`<!DOCTYPE a><a/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := Parse(b, 16)
		if err == nil && doc.Root() == nil {
			t.Fatal("parsed without a root")
		}
		if err == nil {
			sameAsEtree(t, doc)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(kcSigned(f, SignedAssertion)))
	f.Add([]byte(kcSigned(f, SignedResponse)))
	v := verifier()
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := v.Verify(b)
		if err != nil {
			return
		}
		_ = r.Model()
		if _, err := signer().Sign(r); err != nil {
			t.Fatalf("verified but not re-signable: %v", err)
		}
	})
}

// FuzzVerifyLogout: a logout message is accepted unsigned only when the
// caller says its query was signed, and whatever is accepted re-signs.
func FuzzVerifyLogout(f *testing.F) {
	f.Add([]byte(sspSignedRequest(f)), false)
	f.Add([]byte(kcSignedResponse(f)), false)
	f.Add([]byte(keycloakLogoutRequest()), true)
	h, _ := encKeys()
	f.Add([]byte(sspEncryptedLogout(f, h.cert)), false)
	v := verifier()
	f.Fuzz(func(t *testing.T, b []byte, querySigned bool) {
		l, err := v.VerifyLogout(b, querySigned)
		if err != nil {
			return
		}
		if !querySigned && !l.XMLSigned() {
			t.Fatal("an unsigned message accepted without a query signature")
		}
		_ = l.Model()
		_ = l.CheckTimes(time.Now(), time.Minute)
		if _, err := signer().SignLogout(l); err != nil {
			t.Fatalf("verified but not re-signable: %v", err)
		}
	})
}

func FuzzParseIdPMetadata(f *testing.F) {
	f.Add([]byte(kcDescriptor(certB64())))
	f.Add([]byte(`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><EntityDescriptor entityID="a"><IDPSSODescriptor/></EntityDescriptor></EntitiesDescriptor>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if md, err := ParseIdPMetadata(b); err == nil && len(md.Signing) == 0 {
			t.Fatal("metadata without a signing certificate accepted")
		}
	})
}

// FuzzPublishIdPMetadata: whatever the upstream serves, what idphooks
// publishes names no signing key but ours, leaves no location on the
// upstream origin, and is signed, verifiably with our key, exactly when the
// upstream document was.
func FuzzPublishIdPMetadata(f *testing.F) {
	for _, name := range []string{"keycloak-26.7-descriptor.xml", "simplesamlphp-1.19-idp.xml"} {
		f.Add(pubTestdata(f, name))
	}
	f.Add([]byte(kcDescriptor(certB64())))
	o := fuzzPublishOptions()
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := PublishIdPMetadata(b, o); err == nil {
			checkPublished(t, b, out, o)
		}
	})
}

// FuzzDecrypt: whatever an EncryptedAssertion holds (the seeds are real
// Keycloak 26.7 ones, tampered with in testdata/fuzz/FuzzDecrypt),
// decryption never panics or hangs, and a Response it accepts was signed,
// came encrypted, and re-signs and re-encrypts into one that reads back.
func FuzzDecrypt(f *testing.F) {
	f.Add(captured(f, "keycloak-26.7-assertion-signed.xml"))
	f.Add(captured(f, "keycloak-26.7-response-signed.xml"))
	f.Add([]byte(kcEncrypted(f, SignedAssertion)))
	h, sp := encKeys()
	// An EncryptedID and an EncryptedAttribute, in a clear and in an
	// encrypted assertion.
	f.Add([]byte(kcParts(f, SignedAssertion, false, h.cert)))
	f.Add([]byte(kcParts(f, SignedResponse, true, h.cert)))
	v := capturedVerifier(f)
	idp, hk := keys()
	v.Certificates = append(v.Certificates, idp.cert)
	v.DecryptionKeys = append(v.DecryptionKeys, h.key)
	back := &Verifier{Certificates: []*x509.Certificate{hk.cert}, DecryptionKeys: []*rsa.PrivateKey{sp.key}}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := v.Verify(b)
		if err != nil {
			return
		}
		if r.Signed == 0 {
			t.Fatal("accepted unsigned")
		}
		_ = r.Model()
		r.EncryptTo = &Encryption{Certificate: sp.cert}
		out, err := signer().Sign(r)
		if err != nil {
			t.Fatalf("verified but not re-signable: %v", err)
		}
		if _, err := back.Verify(out); err != nil && r.Encrypted {
			t.Fatalf("re-encrypted response does not read back: %v", err)
		}
	})
}

// FuzzVerifyIdPMetadata: whatever the upstream serves, a document
// accepted under idp_metadata_certificate was signed at its root by the
// configured key, and what comes back reads as metadata.
func FuzzVerifyIdPMetadata(f *testing.F) {
	f.Add([]byte(signedDescriptor(f, "")))
	f.Add([]byte(signedDescriptor(f, `validUntil="2020-01-01T00:00:00Z" `)))
	f.Add(pubTestdata(f, "keycloak-26.7-descriptor.xml"))
	f.Add([]byte(federationAggregate(f, "", "ID_kc1")))
	f.Add([]byte(federationAggregate(f, "", "ID_other")))
	trust := metadataTrust()
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := trust.VerifyIdPMetadata(b)
		if err != nil {
			return
		}
		doc, err := Parse(out, 0)
		if err != nil || child(doc.Root(), NSDSig, "Signature") == nil {
			t.Fatalf("accepted %v without a root signature", err)
		}
		// What is used is signed as a whole: it verifies on its own.
		if _, err := trust.VerifyIdPMetadata(out); err != nil {
			t.Fatalf("what is used does not verify alone: %v", err)
		}
		_, _ = ParseIdPMetadata(out)
	})
}

// FuzzVerifySPMetadata: an SP's metadata is used only signed as a whole,
// whatever the document.
func FuzzVerifySPMetadata(f *testing.F) {
	f.Add([]byte(signedSPMetadata(f)))
	f.Add(crewjamSPMetadata(f))
	f.Add([]byte(swapSPCert(f, signedSPMetadata(f))))
	trust := metadataTrust()
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := trust.VerifySPMetadata(b, testSP)
		if err != nil {
			return
		}
		if _, err := trust.VerifySPMetadata(out, testSP); err != nil {
			t.Fatalf("what is used does not verify alone: %v", err)
		}
		_, _ = ParseSPEncryption(out, testSP)
	})
}

// FuzzParseSPEncryption: whatever an SP's metadata holds, what is chosen
// is on the allow-list and usable.
func FuzzParseSPEncryption(f *testing.F) {
	f.Add(crewjamSPMetadata(f))
	f.Add([]byte(spMetadata(em(AES128CBC) + em(RSAOAEP))))
	f.Add([]byte(spMetadata(em(NSXMLEnc + "tripledes-cbc"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseSPEncryption(b, testSP)
		if err != nil || e.Certificate == nil {
			return
		}
		enc := &Encryption{Certificate: e.Certificate, Algorithms: e.Algorithms}
		if err := enc.Check(); err != nil && !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("chosen %v: %v", e.Algorithms, err)
		}
		for _, a := range e.Algorithms {
			if !slices.Contains(EncryptionAlgorithms(), a) {
				t.Fatalf("chose %q", a)
			}
		}
	})
}
