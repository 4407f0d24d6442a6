package caddymodule

import (
	"crypto"
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

	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/keys"
)

// SAMLConfig turns the SAML interceptor on: idphooks verifies the IdP's
// SAML messages to SPs, runs before_saml_assertion and after_login, and
// re-signs what SPs receive with its own key.
type SAMLConfig struct {
	// IdPMetadata is the upstream IdP's metadata: an http(s) URL idphooks
	// fetches itself (cached an hour, kept while the IdP is down) or a
	// file. Its signing certificates verify the IdP's messages. Required.
	IdPMetadata string `json:"idp_metadata"`

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

	// EncryptionCertificate is the SP's certificate (PEM file), to
	// re-encrypt assertions to.
	EncryptionCertificate string `json:"encryption_certificate,omitempty"`
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
	idp, err := saml.NewIdP(c.IdPMetadata, h.MaxBody)
	if err != nil {
		return fmt.Errorf("idp_hooks: saml: %w", err)
	}
	allowed, _ := samlAllowList(c.Algorithms)
	sps := make(map[string]saml.SP, len(c.SPs))
	for id, sc := range c.SPs {
		if sc == nil {
			continue
		}
		sp := saml.SP{Sign: samlPlacements[sc.Sign], AttributeNameFormat: sc.AttributeNameFormat}
		if f, ok := samlNameFormats[sc.AttributeNameFormat]; ok {
			sp.AttributeNameFormat = f
		}
		if sc.EncryptionCertificate != "" {
			// Refused rather than ignored: an SP configured for
			// encryption must not silently get clear assertions.
			return fmt.Errorf("idp_hooks: saml: sp %s: encryption_certificate: re-encrypting assertions is not supported yet", id)
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
		Keys:                ks,
		Logger:              h.logger.Named("saml"),
	})
	if err != nil {
		return fmt.Errorf("idp_hooks: %w", err)
	}
	h.saml = ic
	h.samlIdP = idp
	return nil
}

// samlKeys are idphooks' SAML signing keys: the configured files, or an
// RSA key set of its own in Caddy's storage (SAML signatures are RSA: see
// saml.Signer), rotated on the signing options' schedule and published
// with a certificate each.
func (h *Handler) samlKeys(ctx caddy.Context) (saml.Keys, error) {
	c := h.SAML
	if c.CertificateFile != "" {
		pair, err := tls.LoadX509KeyPair(c.CertificateFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("idp_hooks: saml: certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("idp_hooks: saml: certificate: %w", err)
		}
		key, ok := pair.PrivateKey.(crypto.Signer)
		if !ok || cert.PublicKeyAlgorithm != x509.RSA {
			return nil, errors.New("idp_hooks: saml: certificate: the key must be RSA")
		}
		return fileKeys{key: key, cert: cert}, nil
	}
	sc := SigningConfig{}
	if h.Signing != nil {
		sc = *h.Signing
	}
	storageKey := sc.StorageKey
	if storageKey == "" {
		storageKey = keys.DefaultStorageKey
	}
	km, err := keys.New(ctx, ctx.Storage(), keys.Config{
		Algorithm:      "RS256",
		RotationPeriod: time.Duration(sc.RotationPeriod),
		PrePublish:     time.Duration(sc.PrePublish),
		Retention:      time.Duration(sc.Retention),
		StorageKey:     storageKey + "-saml",
		Certificates:   true,
	}, h.logger.Named("keys.saml"))
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: saml signing keys: %w", err)
	}
	go km.Run(ctx)
	return managerKeys{km}, nil
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
//		metadata_path       <path>
//		paths               <prefix...>
//		algorithms          <name...>
//		signature_algorithm rsa-sha256|rsa-sha384|rsa-sha512
//		certificate         <cert file> <key file>
//		protect_attributes  <name...>
//		leeway              <duration>
//		sp <entity id> {
//			sign                  response|assertion|both
//			attribute_name_format basic|uri|unspecified|<URI>
//			encryption_certificate <file>
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
		case "encryption_certificate":
			err = oneArg(d, &sp.EncryptionCertificate)
		default:
			err = d.Errf("unrecognized sp option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
