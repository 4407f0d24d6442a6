package testidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SimpleSAMLphpDir is where Debian's simplesamlphp package installs
// SimpleSAMLphp (1.19 in bookworm).
const SimpleSAMLphpDir = "/usr/share/simplesamlphp"

// ErrNoSimpleSAMLphp is returned by StartSimpleSAMLphp when Debian's
// simplesamlphp package or php is missing; tests skip on it.
var ErrNoSimpleSAMLphp = errors.New("testidp: simplesamlphp: not installed (Debian packages simplesamlphp, php-cli, php-xml, php-mbstring)")

// SimpleSAMLphpOptions configures StartSimpleSAMLphp.
type SimpleSAMLphpOptions struct {
	// SPEntityID, SPACSURL and SPSLOURL describe the one SP the IdP knows
	// (saml20-sp-remote). SPEntityID and SPACSURL are required; an empty
	// SPSLOURL means no single logout.
	SPEntityID string
	SPACSURL   string
	SPSLOURL   string
	// SPCertificate is the SP's certificate: it verifies the SP's signed
	// requests, and with EncryptAssertions assertions are encrypted to it.
	SPCertificate *x509.Certificate
	// EncryptAssertions encrypts assertions to SPCertificate (or
	// EncryptionCertificate).
	EncryptAssertions bool
	// EncryptNameID encrypts the NameID of assertions and of logout
	// requests to the SP (nameid.encryption: an EncryptedID, AES-128-CBC
	// with rsa-oaep-mgf1p, as xmlseclibs writes it).
	EncryptNameID bool
	// EncryptionCertificate, when set, is what the IdP encrypts to for
	// the SP instead of SPCertificate (which still verifies its requests):
	// idphooks' encryption certificate, for an idphooks that decrypts.
	EncryptionCertificate *x509.Certificate
	// SignMetadata signs the IdP's metadata with its key
	// (metadata.sign.enable).
	SignMetadata bool
	// SignLogout signs the logout messages sent to the SP (sign.logout).
	SignLogout bool
	// SignResponse signs the Response too (the assertion is always signed).
	SignResponse bool
	// NameIDFormat is the NameID format sent when the AuthnRequest asks for
	// none; default emailAddress (the user's email).
	NameIDFormat string
	// PublicBaseURL is the origin browsers reach the IdP on, a proxy in
	// front of it (http://127.0.0.1:PORT, no trailing slash). SimpleSAMLphp
	// builds every absolute URL from its configured base URL and ignores
	// X-Forwarded-*, so its entity id, SSO and SLO locations and the
	// redirects it sends are on this origin, while php still listens on
	// its own address (BaseURL). Default: BaseURL.
	PublicBaseURL string
	// NewUI serves the twig templates (usenewui), the only ones of
	// SimpleSAMLphp 2.x, instead of 1.19's default PHP templates.
	NewUI bool
	// Log, when set, receives php's output.
	Log io.Writer
	// StartTimeout bounds the wait for the server; default 30 seconds.
	StartTimeout time.Duration
}

// SimpleSAMLphp is a running SimpleSAMLphp IdP.
type SimpleSAMLphp struct {
	// BaseURL is where php listens, http://127.0.0.1:PORT (no trailing
	// slash).
	BaseURL string
	// PublicBaseURL is the origin its URLs are built on: the option's, or
	// BaseURL.
	PublicBaseURL string
	// EntityID is the IdP's entity id, its metadata's URL on
	// PublicBaseURL (MetadataURL when there is no proxy).
	EntityID string
	// MetadataURL serves the IdP's metadata (saml2/idp/metadata.php) on
	// BaseURL, for a direct fetch; its content is the same on either
	// origin.
	MetadataURL string
	// Certificate is the IdP's signing certificate. Its metadata lists it
	// twice, as KeyDescriptor use="signing" and use="encryption".
	Certificate *x509.Certificate

	cmd       *exec.Cmd
	exited    chan struct{}
	dir       string
	closeOnce sync.Once
	closeErr  error
}

// SimpleSAMLphpAttributes are the attributes the IdP releases for each
// test user (exampleauth:UserPass), by username.
var SimpleSAMLphpAttributes = map[string]map[string][]string{
	TestUser.Username: {
		"uid":                  {TestUser.Username},
		"email":                {TestUser.Email},
		"displayName":          {TestUser.Name},
		"eduPersonAffiliation": {"member", "staff"},
	},
	SecondUser.Username: {
		"uid":                  {SecondUser.Username},
		"email":                {SecondUser.Email},
		"displayName":          {SecondUser.Name},
		"eduPersonAffiliation": {"member"},
	},
}

// StartSimpleSAMLphp configures Debian's SimpleSAMLphp as a SAML 2.0 IdP
// in a temporary folder (its own config, metadata, key pair, sessions in
// PHP's session files there), with exampleauth:UserPass knowing TestUser
// and SecondUser (SimpleSAMLphpAttributes) and one SP, and serves it with
// `php -S 127.0.0.1:PORT` from its www folder, its URLs on
// opts.PublicBaseURL when a proxy is in front of it. It returns
// ErrNoSimpleSAMLphp when SimpleSAMLphp or php is not installed. Close
// stops php by its PID and removes the folder.
func StartSimpleSAMLphp(opts SimpleSAMLphpOptions) (*SimpleSAMLphp, error) {
	php, err := exec.LookPath("php")
	if err != nil || !fileExists(filepath.Join(SimpleSAMLphpDir, "www", "module.php")) {
		return nil, ErrNoSimpleSAMLphp
	}
	// Debian's simplesamlphp does not pull in php-xml, without which
	// every page is an "Unhandled exception".
	if err := exec.Command(php, "-r", `exit(class_exists("DOMDocument") && function_exists("mb_strlen") ? 0 : 1);`).Run(); err != nil {
		return nil, fmt.Errorf("%w: php has no DOM or mbstring extension (php-xml, php-mbstring)", ErrNoSimpleSAMLphp)
	}
	if opts.SPEntityID == "" || opts.SPACSURL == "" {
		return nil, errors.New("testidp: simplesamlphp: SPEntityID and SPACSURL are required")
	}
	if (opts.EncryptAssertions || opts.EncryptNameID) && opts.SPCertificate == nil && opts.EncryptionCertificate == nil {
		return nil, errors.New("testidp: simplesamlphp: encryption needs SPCertificate or EncryptionCertificate")
	}
	public := strings.TrimSuffix(opts.PublicBaseURL, "/")
	if public != "" {
		if u, err := url.Parse(public); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("testidp: simplesamlphp: PublicBaseURL %q must be an http(s) origin", opts.PublicBaseURL)
		}
	}
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "simplesamlphp-*")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if public == "" {
		public = base
	}
	cert, err := writeSimpleSAMLphpConfig(dir, public, opts)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(php, "-S", "127.0.0.1:"+strconv.Itoa(port), "-t", filepath.Join(SimpleSAMLphpDir, "www"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(dir, "config"))
	if opts.Log != nil {
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	}
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testidp: simplesamlphp: start php: %w", err)
	}
	s := &SimpleSAMLphp{
		BaseURL:       base,
		PublicBaseURL: public,
		EntityID:      public + "/saml2/idp/metadata.php",
		MetadataURL:   base + "/saml2/idp/metadata.php",
		Certificate:   cert,
		cmd:           cmd,
		exited:        make(chan struct{}),
		dir:           dir,
	}
	go func() { cmd.Wait(); close(s.exited) }()
	if err := s.wait(timeout); err != nil {
		s.Close()
		return nil, err
	}
	ok = true
	return s, nil
}

// wait polls the metadata until php answers it with an EntityDescriptor.
func (s *SimpleSAMLphp) wait(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.MetadataURL, nil)
		resp, err := hc.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), "<md:EntityDescriptor") {
				return nil
			}
			err = fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, b)
		}
		last = err
		select {
		case <-s.exited:
			return fmt.Errorf("testidp: simplesamlphp: php exited: %v", last)
		case <-ctx.Done():
			return fmt.Errorf("testidp: simplesamlphp: no metadata at %s after %s: %v", s.MetadataURL, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops php (its process group, by PID) and removes the folder. It
// is safe to call more than once.
func (s *SimpleSAMLphp) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = killProcessGroup(s.cmd, s.exited, 10*time.Second)
		os.RemoveAll(s.dir)
	})
	return s.closeErr
}

// writeSimpleSAMLphpConfig writes the config, metadata and key pair into
// dir; base, the public origin, is SimpleSAMLphp's baseurlpath.
func writeSimpleSAMLphpConfig(dir, base string, opts SimpleSAMLphpOptions) (*x509.Certificate, error) {
	for _, d := range []string{"config", "metadata", "cert", "tmp", "sessions", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	key, cert, err := selfSigned("simplesamlphp test IdP")
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"cert/idp.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"cert/idp.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	files["config/config.php"] = []byte(`<?php
$config = [
    'baseurlpath' => ` + phpString(base+"/") + `,
    'certdir' => ` + phpString(filepath.Join(dir, "cert")+"/") + `,
    'metadatadir' => ` + phpString(filepath.Join(dir, "metadata")+"/") + `,
    'loggingdir' => ` + phpString(filepath.Join(dir, "log")+"/") + `,
    'datadir' => ` + phpString(filepath.Join(dir, "tmp")+"/") + `,
    'tempdir' => ` + phpString(filepath.Join(dir, "tmp")) + `,
    'secretsalt' => ` + phpString(fmt.Sprintf("%x", salt)) + `,
    'auth.adminpassword' => ` + phpString(fmt.Sprintf("%x", salt)) + `,
    'technicalcontact_name' => 'idphooks tests',
    'technicalcontact_email' => 'tests@example.com',
    'timezone' => 'UTC',
    'admin.checkforupdates' => false,
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\Logger::WARNING,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => ` + phpString(filepath.Join(dir, "sessions")) + `,
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'language.cookie.secure' => false,
    'trusted.url.domains' => ['127.0.0.1'],
    'usenewui' => ` + strconv.FormatBool(opts.NewUI) + `,
];
`)
	users := ""
	for _, u := range []User{TestUser, SecondUser} {
		users += "        " + phpString(u.Username+":"+u.Password) + " => " + phpAttributes(SimpleSAMLphpAttributes[u.Username]) + ",\n"
	}
	files["config/authsources.php"] = []byte(`<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'example-userpass' => [
        'exampleauth:UserPass',
` + users + `    ],
];
`)
	files["metadata/saml20-idp-hosted.php"] = []byte(`<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.pem',
    'certificate' => 'idp.crt',
    'auth' => 'example-userpass',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'metadata.sign.enable' => ` + boolString(opts.SignMetadata) + `,
];
`)
	nameIDFormat := opts.NameIDFormat
	if nameIDFormat == "" {
		nameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	}
	sp := "$metadata[" + phpString(opts.SPEntityID) + "] = [\n" +
		"    'AssertionConsumerService' => " + phpString(opts.SPACSURL) + ",\n" +
		"    'NameIDFormat' => " + phpString(nameIDFormat) + ",\n" +
		"    'simplesaml.nameidattribute' => 'email',\n" +
		"    'saml20.sign.assertion' => true,\n" +
		"    'saml20.sign.response' => " + boolString(opts.SignResponse) + ",\n" +
		"    'assertion.encryption' => " + boolString(opts.EncryptAssertions) + ",\n" +
		"    'nameid.encryption' => " + boolString(opts.EncryptNameID) + ",\n" +
		"    'sign.logout' => " + boolString(opts.SignLogout) + ",\n"
	if opts.SPSLOURL != "" {
		sp += "    'SingleLogoutService' => " + phpString(opts.SPSLOURL) + ",\n"
	}
	switch {
	case opts.EncryptionCertificate != nil:
		// One key to verify the SP's requests with, another to encrypt to.
		key := func(c *x509.Certificate, signing, encryption bool) string {
			return "        ['type' => 'X509Certificate', 'signing' => " + boolString(signing) + ", 'encryption' => " + boolString(encryption) +
				", 'X509Certificate' => " + phpString(base64.StdEncoding.EncodeToString(c.Raw)) + "],\n"
		}
		sp += "    'keys' => [\n" + key(opts.EncryptionCertificate, false, true)
		if opts.SPCertificate != nil {
			sp += key(opts.SPCertificate, true, false)
		}
		sp += "    ],\n"
	case opts.SPCertificate != nil:
		sp += "    'certData' => " + phpString(base64.StdEncoding.EncodeToString(opts.SPCertificate.Raw)) + ",\n"
	}
	sp += "];\n"
	files["metadata/saml20-sp-remote.php"] = []byte("<?php\n" + sp)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return cert, nil
}

// phpString quotes s as a single-quoted PHP string.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func phpAttributes(attrs map[string][]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		var vals []string
		for _, v := range attrs[name] {
			vals = append(vals, phpString(v))
		}
		parts = append(parts, phpString(name)+" => ["+strings.Join(vals, ", ")+"]")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// selfSigned makes an RSA-2048 key and a self-signed certificate valid
// from an hour ago for ten years.
func selfSigned(cn string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}
