package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"
)

// A set that keeps certificates (SAML's) gives each key a self-signed one
// holding that key, keeps it across loads, and gives the successor its
// own, published before it signs.
func TestCertificatesFollowTheKeys(t *testing.T) {
	clock := fakeclock.New()
	st := NewMemoryStorage()
	cfg := Config{Algorithm: "RS256", Certificates: true, StorageKey: "idphooks/saml", Now: clock.Now}
	m := mustNew(t, st, cfg)
	s := m.Signer()
	if s.Certificate == nil {
		t.Fatal("no certificate")
	}
	pub, ok := s.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(s.Key.Public()) {
		t.Fatal("the certificate holds another key")
	}
	if err := s.Certificate.CheckSignature(s.Certificate.SignatureAlgorithm, s.Certificate.RawTBSCertificate, s.Certificate.Signature); err != nil {
		t.Fatalf("not self-signed: %v", err)
	}
	if !s.Certificate.NotBefore.Before(clock.Now()) || s.Certificate.NotAfter.Before(clock.Now().Add(10*365*24*time.Hour)) {
		t.Fatalf("validity %v – %v", s.Certificate.NotBefore, s.Certificate.NotAfter)
	}
	// The signature a SAML signer makes verifies with the certificate.
	sum := sha256.Sum256([]byte("x"))
	sig, err := s.Key.Sign(nil, sum[:], crypto.SHA256)
	if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		t.Fatalf("sign/verify: %v", err)
	}

	// Another node loads the same certificate.
	other := mustNew(t, st, cfg)
	if !bytes.Equal(other.Signer().Certificate.Raw, s.Certificate.Raw) {
		t.Fatal("a second instance sees another certificate")
	}

	// Rotation: the successor comes with its certificate, published first.
	clock.Add(DefaultRotationPeriod - DefaultPrePublish)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	certs := m.Certificates()
	if len(certs) != 2 || bytes.Equal(certs[0].Raw, certs[1].Raw) {
		t.Fatalf("%d certificates after rotation", len(certs))
	}
	if !bytes.Equal(m.Signer().Certificate.Raw, s.Certificate.Raw) {
		t.Fatal("the successor signs before its pre-publication ended")
	}
}

// A set stored without certificates gets them when a config asks for
// them; a set that does not keep them has none.
func TestCertificatesAddedToAStoredSet(t *testing.T) {
	st := NewMemoryStorage()
	plain := mustNew(t, st, Config{Algorithm: "RS256"})
	if plain.Signer().Certificate != nil || len(plain.Certificates()) != 0 {
		t.Fatal("certificates in a set that does not keep them")
	}
	kid := plain.Signer().KeyID
	withCerts := mustNew(t, st, Config{Algorithm: "RS256", Certificates: true})
	if withCerts.Signer().KeyID != kid || withCerts.Signer().Certificate == nil {
		t.Fatal("the stored key did not get a certificate")
	}
	again := mustNew(t, st, Config{Algorithm: "RS256"})
	if again.Signer().Certificate == nil {
		t.Fatal("the certificate was not stored")
	}
}

// An encryption set (SAML's EncryptedAssertion keys) hands out every
// published private key, in the order of the public ones, so that what a
// peer encrypted to the next or a retired certificate still decrypts; its
// certificates are for key encipherment.
func TestEncryptionKeysDecryptThroughRotation(t *testing.T) {
	clock := fakeclock.New()
	cfg := Config{Algorithm: "RS256", Certificates: true, Encryption: true, StorageKey: "idphooks/keys-saml-enc", Now: clock.Now}
	m := mustNew(t, NewMemoryStorage(), cfg)
	first := m.Certificates()[0]
	if first.KeyUsage != x509.KeyUsageKeyEncipherment || !strings.Contains(first.Subject.CommonName, "encryption key") {
		t.Fatalf("certificate usage %v, name %q", first.KeyUsage, first.Subject.CommonName)
	}
	sealed, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, first.PublicKey.(*rsa.PublicKey), []byte("content key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	opens := func(keys []crypto.Signer) bool {
		for _, k := range keys {
			d, ok := k.(crypto.Decrypter)
			if !ok {
				t.Fatalf("%T cannot decrypt", k)
			}
			if got, err := d.Decrypt(nil, sealed, &rsa.OAEPOptions{Hash: crypto.SHA256}); err == nil && string(got) == "content key" {
				return true
			}
		}
		return false
	}
	// The successor is published, then takes over; the first key keeps
	// decrypting until its retention ends.
	clock.Add(DefaultRotationPeriod - DefaultPrePublish)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	priv, pub := m.PrivateKeys(), m.PublicKeys()
	if len(priv) != 2 || len(pub) != 2 {
		t.Fatalf("%d private, %d public keys after rotation", len(priv), len(pub))
	}
	for i := range priv {
		if !pub[i].Key.(*rsa.PublicKey).Equal(priv[i].Public()) {
			t.Fatalf("private key %d is not public key %d", i, i)
		}
	}
	clock.Add(DefaultPrePublish + DefaultRetention - time.Second)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Signer().Certificate.Equal(first) || !opens(m.PrivateKeys()) {
		t.Fatal("the retired key no longer decrypts within its retention")
	}
	clock.Add(time.Second)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(m.PrivateKeys()) != 1 || opens(m.PrivateKeys()) {
		t.Fatal("the retired key still decrypts after its retention")
	}
}
