package caddymodule

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/keys"
	"github.com/idphooks/idphooks/upstream"
)

// SAMLConfig turns the SAML interceptor on: idphooks verifies the IdP's
// SAML messages to SPs, runs before_saml_assertion and after_login, and
// re-signs what SPs receive with its own key.
type SAMLConfig struct {
	// IdPMetadata is the upstream IdP's metadata: an http(s) URL idphooks
	// fetches itself (cached an hour, kept while the IdP is down) or a
	// file. Its signing certificates verify the IdP's messages. Required.
	IdPMetadata string `json:"idp_metadata"`

	// IdPMetadataCertificates are PEM files of the certificates the IdP's
	// metadata must be signed with (a federation's metadata signing
	// certificate, say), at its root or, in an unsigned aggregate, on the
	// IdP's EntityDescriptor (then used alone). When set, a document that
	// is unsigned, signed by another key, changed since it was signed or
	// past its validUntil is refused: at load for a file; for a URL the
	// first fetch fails (SAML messages are refused until one verifies)
	// and a later one keeps the copy in hand, with an error line.
	// Default: none, the document is used as fetched, signed or not.
	IdPMetadataCertificates []string `json:"idp_metadata_certificates,omitempty"`

	// IdPEntityID, when set, is the entityID the IdP's metadata must
	// describe, from the first fetch on (a federation's key signs every
	// member's metadata).
	IdPEntityID string `json:"idp_entity_id,omitempty"`

	// MetadataPath is where idphooks serves the IdP's metadata with its
	// own certificates, for SPs to trust. The path of an idp_metadata URL
	// is always served so too. Default: /.well-known/idphooks/saml/metadata.
	MetadataPath string `json:"metadata_path,omitempty"`

	// Paths limit the requests whose answers are looked at for SAML
	// messages to these path prefixes. Default: every request through the
	// handler.
	Paths []string `json:"paths,omitempty"`

	// Algorithms is the allow-list for the IdP's signatures, by name
	// (rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384,
	// ecdsa-sha512, rsa-sha1, ecdsa-sha1). Digests of the same hash or a
	// stronger one are allowed with them. Default: the SHA-256-and-up
	// ones; SHA-1 only when listed.
	Algorithms []string `json:"algorithms,omitempty"`

	// SignatureAlgorithm signs what SPs receive: rsa-sha256 (default),
	// rsa-sha384 or rsa-sha512.
	SignatureAlgorithm string `json:"signature_algorithm,omitempty"`

	// CertificateFile and KeyFile, when set, are idphooks' SAML signing
	// certificate and key (PEM) instead of keys generated into Caddy's
	// storage and rotated with the signing options.
	CertificateFile string `json:"certificate_file,omitempty"`
	KeyFile         string `json:"key_file,omitempty"`

	// Decrypt makes idphooks decrypt the assertions the IdP encrypts to
	// it, run the hooks on them and re-encrypt them to each SP's
	// encryption_certificate; the IdP's entry for each such SP then lists
	// idphooks' encryption certificate (the metadata idphooks serves
	// names it as the IdP's encryption key). Default: off; an encrypted
	// assertion then passes unchanged, no hook runs, and the log says so.
	Decrypt bool `json:"decrypt,omitempty"`

	// DecryptionCertificateFile and DecryptionKeyFile, when set with
	// decrypt, are idphooks' SAML encryption certificate and key (PEM,
	// RSA) instead of keys generated into Caddy's storage and rotated on
	// the signing options' schedule (every key published decrypts; a
	// retired one is kept for at least a rotation period).
	DecryptionCertificateFile string `json:"decryption_certificate_file,omitempty"`
	DecryptionKeyFile         string `json:"decryption_key_file,omitempty"`

	// ProtectAttributes are attribute names hooks may not set or remove.
	// The Issuer, Conditions, Audience, SubjectConfirmationData and
	// AuthnStatement are always protected.
	ProtectAttributes []string `json:"protect_attributes,omitempty"`

	// Leeway is the clock skew allowed on the IdP's times. Default: 1m.
	Leeway caddy.Duration `json:"leeway,omitempty"`

	// SPs holds per-SP settings by SP entity id.
	SPs map[string]*SAMLSPConfig `json:"sps,omitempty"`
}

// SAMLSPConfig is what idphooks is told of one SP.
type SAMLSPConfig struct {
	// Sign is where idphooks signs what this SP receives: response,
	// assertion or both. Default: where the IdP signed, which is what the
	// IdP's entry for the SP says it expects.
	Sign string `json:"sign,omitempty"`

	// AttributeNameFormat is the NameFormat of attributes hooks add
	// without one: basic (default), uri, unspecified, or a URI.
	AttributeNameFormat string `json:"attribute_name_format,omitempty"`

	// Metadata is the SP's SAML metadata: a file read at config load, or
	// an http(s) URL idphooks fetches itself (cached an hour, the copy in
	// hand kept while a refetch fails; messages to the SP are refused
	// while none could be had). Its encryption key
	// (KeyDescriptor use="encryption", else one without a use) is the
	// encryption_certificate unless one is given, and the EncryptionMethods
	// listed with it choose the encryption_algorithms unless they are
	// given: AES-GCM before AES-CBC (CBC only when listed and no GCM is),
	// XML Encryption 1.1's rsa-oaep when listed (with SHA-256), else
	// rsa-oaep-mgf1p; the default for a kind it lists none of. An SP that
	// lists only algorithms idphooks does not encrypt with (tripledes-cbc,
	// rsa-1_5) is a config error. Default: none.
	Metadata string `json:"metadata,omitempty"`

	// MetadataCertificates are PEM files of the certificates the SP's
	// metadata must be signed with (a federation's metadata signing
	// certificate, say), under the IdP metadata's rules (see
	// SAMLConfig.IdPMetadataCertificates) and the algorithms allow-list.
	// When set, a document that is unsigned, signed by another key,
	// changed since it was signed or past its validUntil is refused: a
	// file at load; from a URL, messages to the SP get the "try again"
	// page until a fetched copy verifies, and a later refused fetch keeps
	// the copy in hand, with an error line each time. Default: none, the
	// document is used as fetched, signed or not.
	MetadataCertificates []string `json:"metadata_certificates,omitempty"`

	// EncryptionCertificate is the SP's certificate (PEM file, RSA): what
	// this SP receives has its assertion encrypted to it, whether the IdP
	// encrypted it or not. Default: none, the assertion goes in clear (an
	// assertion the IdP encrypted is then refused).
	EncryptionCertificate string `json:"encryption_certificate,omitempty"`

	// EncryptionAlgorithms are the XML Encryption algorithms this SP
	// reads, as its metadata lists them: data (aes256-gcm, aes192-gcm,
	// aes128-gcm, aes256-cbc, aes192-cbc, aes128-cbc) and key transport
	// (rsa-oaep-mgf1p, rsa-oaep: XML Encryption 1.1's, SHA-256 and
	// MGF1-SHA-256); the first of each kind listed is used. Default:
	// aes256-gcm with rsa-oaep-mgf1p, which crewjam, node-saml and
	// xmlseclibs-based SPs read.
	EncryptionAlgorithms []string `json:"encryption_algorithms,omitempty"`
}

// DefaultSAMLMetadataPath is where idphooks serves the IdP's metadata.
const DefaultSAMLMetadataPath = "/.well-known/idphooks/saml/metadata"

// samlSignatureNames are the signature algorithms by config name.
var samlSignatureNames = map[string]string{
	"rsa-sha1": saml.RSASHA1, "rsa-sha256": saml.RSASHA256, "rsa-sha384": saml.RSASHA384, "rsa-sha512": saml.RSASHA512,
	"ecdsa-sha1": saml.ECDSASHA1, "ecdsa-sha256": saml.ECDSASHA256, "ecdsa-sha384": saml.ECDSASHA384, "ecdsa-sha512": saml.ECDSASHA512,
}

// samlDigests are the digests at least as strong as a name's hash.
var samlDigests = map[string][]string{
	"sha1":   {saml.DigestSHA1, saml.DigestSHA256, saml.DigestSHA384, saml.DigestSHA512},
	"sha256": {saml.DigestSHA256, saml.DigestSHA384, saml.DigestSHA512},
	"sha384": {saml.DigestSHA384, saml.DigestSHA512},
	"sha512": {saml.DigestSHA512},
}

// allowList turns config names into the core's allow-list of URIs.
func samlAllowList(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var out []string
	for _, n := range names {
		uri, ok := samlSignatureNames[n]
		if !ok {
			return nil, fmt.Errorf("unknown signature algorithm %q (use %s)", n, strings.Join(slices.Sorted(maps.Keys(samlSignatureNames)), ", "))
		}
		_, hash, _ := strings.Cut(n, "-")
		for _, a := range append([]string{uri}, samlDigests[hash]...) {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// samlPlacements are the sign option's values.
var samlPlacements = map[string]saml.Placement{
	"response": saml.SignedResponse, "assertion": saml.SignedAssertion,
	"both": saml.SignedResponse | saml.SignedAssertion,
}

// samlEncryptionNames are the encryption_algorithms names.
var samlEncryptionNames = map[string]string{
	"aes256-gcm": saml.AES256GCM, "aes192-gcm": saml.AES192GCM, "aes128-gcm": saml.AES128GCM,
	"aes256-cbc": saml.AES256CBC, "aes192-cbc": saml.AES192CBC, "aes128-cbc": saml.AES128CBC,
	"rsa-oaep-mgf1p": saml.RSAOAEPMGF1P, "rsa-oaep": saml.RSAOAEP,
}

// samlEncryptionList turns encryption_algorithms names into URIs.
func samlEncryptionList(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		uri, ok := samlEncryptionNames[n]
		if !ok {
			return nil, fmt.Errorf("unknown encryption algorithm %q (use %s)", n, strings.Join(slices.Sorted(maps.Keys(samlEncryptionNames)), ", "))
		}
		out = append(out, uri)
	}
	return out, nil
}

// samlNameFormats are the attribute_name_format short names.
var samlNameFormats = map[string]string{
	"basic":       saml.AttrNameFormatBasic,
	"uri":         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
	"unspecified": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
}

func (c *SAMLConfig) validate() error {
	if c.IdPMetadata == "" {
		return errors.New("idp_hooks: saml: idp_metadata is required")
	}
	if c.MetadataPath != "" && !strings.HasPrefix(c.MetadataPath, "/") {
		return fmt.Errorf("idp_hooks: saml: metadata_path %q must start with /", c.MetadataPath)
	}
	for _, p := range c.Paths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("idp_hooks: saml: paths: %q must start with /", p)
		}
	}
	if _, err := samlAllowList(c.Algorithms); err != nil {
		return fmt.Errorf("idp_hooks: saml: algorithms: %v", err)
	}
	if a := c.SignatureAlgorithm; a != "" && (!strings.HasPrefix(a, "rsa-") || a == "rsa-sha1" || samlSignatureNames[a] == "") {
		return fmt.Errorf("idp_hooks: saml: signature_algorithm %q: use rsa-sha256, rsa-sha384 or rsa-sha512", a)
	}
	if (c.CertificateFile == "") != (c.KeyFile == "") {
		return errors.New("idp_hooks: saml: certificate needs both a certificate file and a key file")
	}
	if (c.DecryptionCertificateFile == "") != (c.DecryptionKeyFile == "") {
		return errors.New("idp_hooks: saml: decryption_certificate needs both a certificate file and a key file")
	}
	if c.DecryptionCertificateFile != "" && !c.Decrypt {
		return errors.New("idp_hooks: saml: decryption_certificate is given but decrypt is off")
	}
	for id, sp := range c.SPs {
		if sp == nil {
			continue
		}
		if _, ok := samlPlacements[sp.Sign]; sp.Sign != "" && !ok {
			return fmt.Errorf("idp_hooks: saml: sp %s: sign must be response, assertion or both, not %q", id, sp.Sign)
		}
		if f := sp.AttributeNameFormat; f != "" && samlNameFormats[f] == "" && !strings.Contains(f, ":") {
			return fmt.Errorf("idp_hooks: saml: sp %s: attribute_name_format %q: use basic, uri, unspecified or a URI", id, f)
		}
		if _, err := samlEncryptionList(sp.EncryptionAlgorithms); err != nil {
			return fmt.Errorf("idp_hooks: saml: sp %s: encryption_algorithms: %v", id, err)
		}
		if len(sp.MetadataCertificates) > 0 && sp.Metadata == "" {
			return fmt.Errorf("idp_hooks: saml: sp %s: metadata_certificate without metadata", id)
		}
		if len(sp.EncryptionAlgorithms) > 0 && sp.EncryptionCertificate == "" && sp.Metadata == "" {
			return fmt.Errorf("idp_hooks: saml: sp %s: encryption_algorithms without an encryption_certificate", id)
		}
	}
	return nil
}

// provisionSAML builds the SAML interceptor: its keys, the IdP's metadata
// source, the per-SP settings.
func (h *Handler) provisionSAML(ctx caddy.Context) error {
	c := h.SAML
	if err := c.validate(); err != nil {
		return err
	}
	ks, err := h.samlKeys(ctx)
	if err != nil {
		return err
	}
	var dec saml.Decryption
	if c.Decrypt {
		if dec, err = h.samlDecryption(ctx); err != nil {
			return err
		}
	}
	allowed, _ := samlAllowList(c.Algorithms)
	trust, err := readCertificateFiles(c.IdPMetadataCertificates)
	if err != nil {
		return fmt.Errorf("idp_hooks: saml: idp_metadata_certificate %w", err)
	}
	idp, err := saml.NewIdPWith(c.IdPMetadata, saml.IdPOptions{
		MaxBody:  h.MaxBody,
		Trust:    saml.MetadataTrust{Certificates: trust, Algorithms: allowed},
		Logger:   h.logger.Named("saml"),
		EntityID: c.IdPEntityID,
	})
	if err != nil {
		return fmt.Errorf("idp_hooks: saml: %w", err)
	}
	sps := make(map[string]saml.SP, len(c.SPs))
	for id, sc := range c.SPs {
		if sc == nil {
			continue
		}
		sp, err := samlSP(id, sc, saml.SPMetadataOptions{MaxBody: h.MaxBody, Trust: saml.MetadataTrust{Algorithms: allowed}, Logger: h.logger.Named("saml")})
		if err != nil {
			return err
		}
		if sp.Metadata != nil {
			c, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
			if err := sp.Metadata.Check(c); err != nil {
				h.logger.Warn("SP metadata not usable yet; SAML messages to this SP are refused until it is",
					zap.String("sp", id), zap.String("metadata", sc.Metadata), zap.Error(err))
			}
			cancel()
		}
		sps[id] = sp
	}
	metadataPath := c.MetadataPath
	if metadataPath == "" {
		metadataPath = DefaultSAMLMetadataPath
	}
	ic, err := saml.New(saml.Config{
		IdP:                 idp,
		MetadataPaths:       []string{metadataPath},
		Paths:               slices.Clone(c.Paths),
		Algorithms:          allowed,
		SignatureAlgorithm:  samlSignatureNames[c.SignatureAlgorithm],
		ProtectedAttributes: c.ProtectAttributes,
		SPs:                 sps,
		Leeway:              time.Duration(c.Leeway),
		MaxBody:             h.MaxBody,
		Dispatcher:          h.dispatcher,
		NameIDs:             samlNameIDs{h.state.Swaps},
		Keys:                ks,
		Decryption:          dec,
		Logger:              h.logger.Named("saml"),
	})
	if err != nil {
		return fmt.Errorf("idp_hooks: %w", err)
	}
	h.saml = ic
	h.samlIdP = idp
	return nil
}

// samlSP builds the settings of the SP id: its sign placement, attribute
// NameFormat, and encryption certificate and algorithms from its metadata
// (verified with its metadata_certificate when given), overridden by
// encryption_certificate and encryption_algorithms. o holds what every
// SP's metadata shares: the fetch cap, the algorithm allow-list, the log.
func samlSP(id string, sc *SAMLSPConfig, o saml.SPMetadataOptions) (saml.SP, error) {
	sp := saml.SP{Sign: samlPlacements[sc.Sign], AttributeNameFormat: sc.AttributeNameFormat}
	if f, ok := samlNameFormats[sc.AttributeNameFormat]; ok {
		sp.AttributeNameFormat = f
	}
	trust, err := readCertificateFiles(sc.MetadataCertificates)
	if err != nil {
		return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: metadata_certificate %w", id, err)
	}
	o.Trust.Certificates = trust
	o.AlgorithmsGiven = len(sc.EncryptionAlgorithms) > 0
	if upstream.CheckAbsolute(sc.Metadata) == nil {
		// Fetched by idphooks when first needed and cached; what it says
		// stands in for what is not set here.
		m, err := saml.NewSPMetadataWith(sc.Metadata, id, o)
		if err != nil {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: metadata: %w", id, err)
		}
		sp.Metadata = m
	} else if sc.Metadata != "" {
		raw, err := os.ReadFile(sc.Metadata)
		if err != nil {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: metadata: %w", id, err)
		}
		if raw, err = o.Trust.VerifySPMetadata(raw, id); err != nil {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: metadata %s: %w", id, sc.Metadata, err)
		}
		enc, err := saml.ParseSPEncryption(raw, id)
		// What it lists may be unusable when encryption_algorithms
		// says what to use instead.
		if err != nil && !(len(sc.EncryptionAlgorithms) > 0 && errors.Is(err, saml.ErrAlgorithm)) {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: metadata %s: %w", id, sc.Metadata, err)
		}
		sp.EncryptionCertificate, sp.EncryptionAlgorithms = enc.Certificate, enc.Algorithms
	}
	if sc.EncryptionCertificate != "" {
		cert, err := readCertificate(sc.EncryptionCertificate)
		if err != nil {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: encryption_certificate: %w", id, err)
		}
		sp.EncryptionCertificate = cert
	}
	if len(sc.EncryptionAlgorithms) > 0 {
		if sp.EncryptionCertificate == nil && sp.Metadata == nil {
			return saml.SP{}, fmt.Errorf("idp_hooks: saml: sp %s: encryption_algorithms, and its metadata names no encryption key", id)
		}
		sp.EncryptionAlgorithms, _ = samlEncryptionList(sc.EncryptionAlgorithms)
	}
	return sp, nil
}

// samlKeys are idphooks' SAML signing keys: the configured files, or an
// RSA key set of its own in Caddy's storage (SAML signatures are RSA: see
// saml.Signer), rotated on the signing options' schedule and published
// with a certificate each.
func (h *Handler) samlKeys(ctx caddy.Context) (saml.Keys, error) {
	c := h.SAML
	if c.CertificateFile != "" {
		key, cert, err := loadRSAPair(c.CertificateFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("idp_hooks: saml: certificate: %w", err)
		}
		return fileKeys{key: key, cert: cert}, nil
	}
	km, err := h.samlKeySet(ctx, "-saml", "signing", func(kc *keys.Config) {})
	if err != nil {
		return nil, err
	}
	return managerKeys{km}, nil
}

// samlDecryption are idphooks' SAML encryption keys: the configured
// files, or an RSA key set of their own in Caddy's storage, rotated like
// the signing keys. A retired key stays for at least a rotation period,
// not the signing retention: the IdP is told an encryption certificate by
// hand, and must be given the new one before the old one goes.
func (h *Handler) samlDecryption(ctx caddy.Context) (saml.Decryption, error) {
	c := h.SAML
	if c.DecryptionCertificateFile != "" {
		key, cert, err := loadRSAPair(c.DecryptionCertificateFile, c.DecryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("idp_hooks: saml: decryption_certificate: %w", err)
		}
		return fileDecryption{key: key, cert: cert}, nil
	}
	km, err := h.samlKeySet(ctx, "-saml-enc", "encryption", func(kc *keys.Config) {
		if kc.RotationPeriod == 0 {
			kc.RotationPeriod = keys.DefaultRotationPeriod
		}
		if kc.Retention == 0 {
			kc.Retention = keys.DefaultRetention
		}
		kc.Retention = max(kc.Retention, kc.RotationPeriod)
		kc.Encryption = true
	})
	if err != nil {
		return nil, err
	}
	return managerDecryption{km}, nil
}

// samlKeySet loads or creates an RSA key set with certificates in Caddy's
// storage, under the signing options' storage key and suffix, on their
// rotation schedule (adjust changes what differs), and starts its
// rotation.
func (h *Handler) samlKeySet(ctx caddy.Context, suffix, what string, adjust func(*keys.Config)) (*keys.Manager, error) {
	sc := SigningConfig{}
	if h.Signing != nil {
		sc = *h.Signing
	}
	storageKey := sc.StorageKey
	if storageKey == "" {
		storageKey = keys.DefaultStorageKey
	}
	kc := keys.Config{
		Algorithm:      "RS256",
		RotationPeriod: time.Duration(sc.RotationPeriod),
		PrePublish:     time.Duration(sc.PrePublish),
		Retention:      time.Duration(sc.Retention),
		StorageKey:     storageKey + suffix,
		Certificates:   true,
	}
	adjust(&kc)
	km, err := keys.New(ctx, ctx.Storage(), kc, h.logger.Named("keys"+strings.ReplaceAll(suffix, "-", ".")))
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: saml %s keys: %w", what, err)
	}
	go km.Run(ctx)
	return km, nil
}

// loadRSAPair reads a PEM certificate and its RSA key.
func loadRSAPair(certFile, keyFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("the key must be RSA")
	}
	return key, cert, nil
}

// managerDecryption are a rotated encryption key set as the SAML
// interceptor uses it.
type managerDecryption struct{ m *keys.Manager }

func (d managerDecryption) SAMLDecryptionKeys() []*rsa.PrivateKey {
	var out []*rsa.PrivateKey
	for _, k := range d.m.PrivateKeys() {
		if r, ok := k.(*rsa.PrivateKey); ok {
			out = append(out, r)
		}
	}
	return out
}

// SAMLEncryptionCertificates puts the current key's first: it is the one
// to give the IdP.
func (d managerDecryption) SAMLEncryptionCertificates() []*x509.Certificate {
	cur := d.m.Signer().Certificate
	out := []*x509.Certificate{}
	if cur != nil {
		out = append(out, cur)
	}
	for _, c := range d.m.Certificates() {
		if cur == nil || !c.Equal(cur) {
			out = append(out, c)
		}
	}
	return out
}

// fileDecryption is an encryption certificate and key the operator
// supplies.
type fileDecryption struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func (d fileDecryption) SAMLDecryptionKeys() []*rsa.PrivateKey { return []*rsa.PrivateKey{d.key} }
func (d fileDecryption) SAMLEncryptionCertificates() []*x509.Certificate {
	return []*x509.Certificate{d.cert}
}

// managerKeys are a rotated key set as the SAML interceptor uses it.
type managerKeys struct{ m *keys.Manager }

func (k managerKeys) SAMLSigner() (crypto.Signer, *x509.Certificate, error) {
	s := k.m.Signer()
	if s.Key == nil || s.Certificate == nil {
		return nil, nil, errors.New("no SAML signing key with a certificate")
	}
	return s.Key, s.Certificate, nil
}

func (k managerKeys) SAMLCertificates() []*x509.Certificate { return k.m.Certificates() }

// fileKeys are a certificate and key the operator supplies; they rotate
// when the operator replaces the files and reloads.
type fileKeys struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func (k fileKeys) SAMLSigner() (crypto.Signer, *x509.Certificate, error) { return k.key, k.cert, nil }
func (k fileKeys) SAMLCertificates() []*x509.Certificate                 { return []*x509.Certificate{k.cert} }

// readCertificates reads every certificate of a PEM file.
// readCertificateFiles reads the certificates of each file (PEM, one or
// more each): those a metadata document must be signed with. An error
// names the file.
func readCertificateFiles(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		certs, err := readCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, certs...)
	}
	return out, nil
}

func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate in the file")
	}
	return out, nil
}

// readCertificate reads the first certificate of a PEM file.
func readCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate in the file")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// parseSAML reads the saml block:
//
//	saml {
//		idp_metadata        <url or file>
//		idp_metadata_certificate <file...>
//		idp_entity_id <entity id>
//		metadata_path       <path>
//		paths               <prefix...>
//		algorithms          <name...>
//		signature_algorithm rsa-sha256|rsa-sha384|rsa-sha512
//		certificate         <cert file> <key file>
//		decrypt
//		decryption_certificate <cert file> <key file>
//		protect_attributes  <name...>
//		leeway              <duration>
//		sp <entity id> {
//			sign                  response|assertion|both
//			attribute_name_format basic|uri|unspecified|<URI>
//			metadata               <url or file>
//			metadata_certificate   <file...>
//			encryption_certificate <file>
//			encryption_algorithms  <name...>
//		}
//	}
func (h *Handler) parseSAML(d *caddyfile.Dispenser) error {
	if h.SAML != nil {
		return d.Err("saml given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	c := &SAMLConfig{}
	h.SAML = c
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "idp_metadata":
			err = oneArg(d, &c.IdPMetadata)
		case "idp_metadata_certificate":
			err = appendArgs(d, &c.IdPMetadataCertificates)
		case "idp_entity_id":
			err = oneArg(d, &c.IdPEntityID)
		case "metadata_path":
			err = oneArg(d, &c.MetadataPath)
			if err == nil && !strings.HasPrefix(c.MetadataPath, "/") {
				err = d.Errf("metadata_path must start with /")
			}
		case "paths":
			err = appendArgs(d, &c.Paths)
		case "algorithms":
			err = appendArgs(d, &c.Algorithms)
			if err == nil {
				if _, aerr := samlAllowList(c.Algorithms); aerr != nil {
					err = d.Errf("algorithms: %v", aerr)
				}
			}
		case "signature_algorithm":
			err = oneArg(d, &c.SignatureAlgorithm)
		case "certificate":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			c.CertificateFile, c.KeyFile = args[0], args[1]
		case "decrypt":
			if err := flagArg(d, &c.Decrypt); err != nil {
				return err
			}
		case "decryption_certificate":
			// Files to decrypt with imply decrypting.
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			c.DecryptionCertificateFile, c.DecryptionKeyFile, c.Decrypt = args[0], args[1], true
		case "protect_attributes":
			err = appendArgs(d, &c.ProtectAttributes)
		case "leeway":
			c.Leeway, err = durationArg(d)
		case "sp":
			err = c.parseSP(d)
		default:
			err = d.Errf("unrecognized saml option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if c.IdPMetadata == "" {
		return d.Err("saml: idp_metadata is required")
	}
	return nil
}

func (c *SAMLConfig) parseSP(d *caddyfile.Dispenser) error {
	var id string
	if err := oneArg(d, &id); err != nil {
		return err
	}
	if c.SPs == nil {
		c.SPs = map[string]*SAMLSPConfig{}
	}
	if _, dup := c.SPs[id]; dup {
		return d.Errf("sp %s given twice", id)
	}
	sp := &SAMLSPConfig{}
	c.SPs[id] = sp
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "sign":
			err = oneArg(d, &sp.Sign)
			if _, ok := samlPlacements[sp.Sign]; err == nil && !ok {
				err = d.Errf("sign must be response, assertion or both, not %q", sp.Sign)
			}
		case "attribute_name_format":
			err = oneArg(d, &sp.AttributeNameFormat)
		case "metadata":
			err = oneArg(d, &sp.Metadata)
		case "metadata_certificate":
			err = appendArgs(d, &sp.MetadataCertificates)
		case "encryption_certificate":
			err = oneArg(d, &sp.EncryptionCertificate)
		case "encryption_algorithms":
			err = appendArgs(d, &sp.EncryptionAlgorithms)
			if err == nil {
				if _, eerr := samlEncryptionList(sp.EncryptionAlgorithms); eerr != nil {
					err = d.Errf("encryption_algorithms: %v", eerr)
				}
			}
		default:
			err = d.Errf("unrecognized sp option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
