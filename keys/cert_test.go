package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
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
