package keys

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// certValidity is how long a key's certificate is valid. SAML peers trust
// a certificate because the metadata names it, not because of its dates,
// and rotation (not expiry) retires keys; some SPs still refuse an expired
// certificate, so it outlives any key by far.
const certValidity = 20 * 365 * 24 * time.Hour

// selfSign makes the self-signed certificate SAML publishes a key in
// (KeyDescriptor X509Data) and signatures carry: subject and issuer name
// the key by its kid. An encryption key's certificate is for key
// encipherment (RSA-OAEP key transport) instead of signatures.
func selfSign(k privateKey, encryption bool) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	use, usage := "signing", x509.KeyUsageDigitalSignature
	if encryption {
		use, usage = "encryption", x509.KeyUsageKeyEncipherment
	}
	name := pkix.Name{CommonName: "idphooks " + use + " key " + k.kid}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      name,
		Issuer:       name,
		// An hour of slack for peers whose clocks run behind.
		NotBefore:             k.timing.CreatedAt.Add(-time.Hour).UTC(),
		NotAfter:              k.timing.CreatedAt.Add(certValidity).UTC(),
		KeyUsage:              usage,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer.Public(), k.signer)
	if err != nil {
		return nil, fmt.Errorf("keys: certificate for %s: %w", k.kid, err)
	}
	return x509.ParseCertificate(der)
}

// withCertificates gives every key of the set that has none a certificate;
// changed reports whether one was added.
func withCertificates(keys []privateKey, encryption bool) (changed bool, err error) {
	for i := range keys {
		if keys[i].cert != nil {
			continue
		}
		if keys[i].cert, err = selfSign(keys[i], encryption); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

func missingCertificate(keys []privateKey) bool {
	for _, k := range keys {
		if k.cert == nil {
			return true
		}
	}
	return false
}

// Certificates returns the certificates of every published key (when the
// set keeps them, see Config.Certificates): pre-published, signing and
// retired, so SAML metadata names the next key before it signs.
func (m *Manager) Certificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, p := range m.snap.Load().public {
		if p.Certificate != nil {
			out = append(out, p.Certificate)
		}
	}
	return out
}
