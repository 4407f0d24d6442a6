package saml

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	"go.uber.org/zap"
)

// Decryption are idphooks' SAML encryption keys, for an IdP that encrypts
// assertions to idphooks (the IdP's entry for the SP lists idphooks'
// encryption certificate, not the SP's).
type Decryption interface {
	// SAMLDecryptionKeys are the private keys of every published
	// encryption certificate, current, next and retired: the IdP may
	// have been given any of them.
	SAMLDecryptionKeys() []*rsa.PrivateKey
	// SAMLEncryptionCertificates are those certificates, the one to give
	// IdPs now first, as the metadata served through idphooks lists them.
	SAMLEncryptionCertificates() []*x509.Certificate
}

// decryptionKeys are the keys the verifier decrypts with; none when
// decryption is not configured.
func (i *Interceptor) decryptionKeys() []*rsa.PrivateKey {
	if i.cfg.Decryption == nil {
		return nil
	}
	return i.cfg.Decryption.SAMLDecryptionKeys()
}

// encryptionCertificates are what the served metadata lists as the IdP's
// encryption keys: idphooks' when it decrypts, else (nil) the IdP's own.
func (i *Interceptor) encryptionCertificates() []*x509.Certificate {
	if i.cfg.Decryption == nil {
		return nil
	}
	return i.cfg.Decryption.SAMLEncryptionCertificates()
}

// encryptFor makes resp go encrypted to an SP given an encryption
// certificate, whether the IdP encrypted it or not. An assertion the IdP
// encrypted for an SP idphooks has no certificate of is refused: it would
// reach the browser in clear.
func (i *Interceptor) encryptFor(ctx context.Context, resp *Response, app string, sp SP) error {
	if resp.Encrypted {
		i.noteDecryptionKey(resp.decryptedWith, app)
	}
	i.noteSealed(resp.Sealed(), "response", app)
	enc, err := i.encryptionFor(ctx, sp)
	if err != nil {
		return err
	}
	if enc != nil {
		resp.EncryptTo = enc
		return nil
	}
	if resp.Encrypted && resp.assertion != nil {
		return fmt.Errorf("the IdP encrypted the assertion for SP %q, and idphooks has no encryption_certificate for it: it is not sent in clear", app)
	}
	if resp.parts.pending() {
		return fmt.Errorf("the IdP encrypted a NameID or attributes for SP %q, and idphooks has no encryption_certificate for it: they are not sent in clear", app)
	}
	return nil
}

// encryptLogoutFor gives a LogoutRequest whose NameID came encrypted (and
// was opened) the certificate of the SP it is for, which the NameID names
// (SPNameQualifier: the IdP encrypts for an SP it knows), so that it goes
// encrypted again. Without one it is refused: never sent in clear.
func (i *Interceptor) encryptLogoutFor(ctx context.Context, l *Logout) error {
	i.noteSealed(l.Sealed(), "logout request", "")
	if !l.NameIDOpened() {
		return nil
	}
	m := l.Model()
	app := m.NameID.SPNameQualifier
	if app == "" {
		return errors.New("the IdP encrypted the LogoutRequest's NameID, which names no SP (SPNameQualifier): idphooks cannot tell whose encryption_certificate to encrypt it to, and does not send it in clear")
	}
	enc, err := i.encryptionFor(ctx, i.sp(app))
	if err != nil {
		return err
	}
	if enc == nil {
		return fmt.Errorf("the IdP encrypted the LogoutRequest's NameID for SP %q, and idphooks has no encryption_certificate for it: it is not sent in clear", app)
	}
	l.EncryptTo = enc
	return nil
}

// errSPMetadata wraps a failed fetch of an SP's metadata: whether and how
// to encrypt to the SP cannot be told, so nothing is sent to it.
var errSPMetadata = errors.New("the SP's SAML metadata is unavailable")

// encryptionFor is how what goes to sp is encrypted: to its
// encryption_certificate with its algorithms, each of them, when not set,
// as its metadata by URL says; nil: in clear.
func (i *Interceptor) encryptionFor(ctx context.Context, sp SP) (*Encryption, error) {
	cert, algs := sp.EncryptionCertificate, sp.EncryptionAlgorithms
	if sp.Metadata != nil && (cert == nil || algs == nil) {
		e, err := sp.Metadata.Encryption(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errSPMetadata, err)
		}
		if cert == nil {
			cert = e.Certificate
		}
		if algs == nil {
			algs = e.Algorithms
		}
	}
	if cert == nil {
		return nil, nil
	}
	enc := &Encryption{Certificate: cert, Algorithms: algs}
	if err := enc.Check(); err != nil {
		return nil, fmt.Errorf("SP encryption: %w", err)
	}
	return enc, nil
}

// noteSealed logs, once a minute per SP and reason, the parts of a
// message that stay encrypted: no hook or event sees them.
func (i *Interceptor) noteSealed(sealed []Sealed, what, app string) {
	for _, s := range sealed {
		if i.passLog.Due("sealed "+app+" "+s.Part+" "+s.Reason, i.cfg.Now()) {
			i.log.Warn("a part of the SAML "+what+" passed encrypted, as it came: hooks and events do not see it",
				zap.String("sp", app), zap.String("part", s.Part), zap.String("reason", s.Reason))
		}
	}
}

// noteDecryptionKey warns, once a minute per SP, when the IdP encrypted
// to an idphooks certificate that is not the current one: once a rotation
// drops that key, the IdP's assertions for the SP stop decrypting.
func (i *Interceptor) noteDecryptionKey(used *rsa.PrivateKey, app string) {
	certs := i.encryptionCertificates()
	if used == nil || len(certs) == 0 || used.PublicKey.Equal(certs[0].PublicKey) {
		return
	}
	if i.passLog.Due("key "+app, i.cfg.Now()) {
		i.log.Warn("the IdP encrypts to an idphooks encryption certificate that is not the current one: give the IdP's entry for this SP the first encryption certificate of the metadata idphooks serves, before a rotation drops the old one",
			zap.String("sp", app), zap.String("current", certs[0].Subject.CommonName))
	}
}

// checkSPs refuses an SP encryption setting Sign could not use.
func checkSPs(sps map[string]SP) error {
	for id, sp := range sps {
		if sp.EncryptionCertificate == nil {
			if len(sp.EncryptionAlgorithms) > 0 && sp.Metadata == nil {
				return fmt.Errorf("saml: sp %s: encryption algorithms without an encryption certificate", id)
			}
			continue
		}
		e := Encryption{Certificate: sp.EncryptionCertificate, Algorithms: sp.EncryptionAlgorithms}
		if err := e.Check(); err != nil {
			return fmt.Errorf("saml: sp %s: %w", id, err)
		}
	}
	return nil
}

// passEncrypted lets a Response whose assertion idphooks cannot decrypt
// (no decrypt configured) go as it came, and says so in the log, once a
// minute per destination.
func (i *Interceptor) passEncrypted(doc *etree.Document) error {
	dest := doc.Root().SelectAttrValue("Destination", "")
	if len(dest) > 200 {
		dest = dest[:200]
	}
	if i.passLog.Due(dest, i.cfg.Now()) {
		i.log.Warn("SAML response passed unchanged: its assertion is encrypted and decryption is not configured (saml { decrypt }); no hook ran, and the SP gets the IdP's signature, which it refuses when it trusts only idphooks' metadata",
			zap.String("destination", dest))
	}
	return errPass
}
