package saml

import (
	"crypto"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/internal/logevery"
)

// Keys are idphooks' SAML signing keys, as the interceptor needs them.
type Keys interface {
	// SAMLSigner returns the key that signs now and its certificate.
	SAMLSigner() (crypto.Signer, *x509.Certificate, error)
	// SAMLCertificates are the certificates SPs are to trust: the one
	// signing now, the next one during a rotation, the retired ones.
	SAMLCertificates() []*x509.Certificate
}

// SP is what idphooks is told of one service provider.
type SP struct {
	// Sign is where idphooks signs what it sends this SP; 0 signs where
	// the IdP signed (which is what the IdP's client entry says the SP
	// expects).
	Sign Placement
	// AttributeNameFormat is the NameFormat of attributes hooks add
	// without one; basic when empty.
	AttributeNameFormat string
	// EncryptionCertificate is the SP's own, to re-encrypt assertions to.
	EncryptionCertificate *x509.Certificate
	// EncryptionAlgorithms are what the SP reads, as Encryption.Algorithms
	// (nil: aes256-gcm with rsa-oaep-mgf1p).
	EncryptionAlgorithms []string
	// Metadata, when set, is the SP's metadata by URL: its encryption key
	// and algorithms stand in for EncryptionCertificate and
	// EncryptionAlgorithms where those are not set.
	Metadata *SPMetadata
}

// Config is everything the interceptor needs, as plain values.
type Config struct {
	IdP *IdP

	// MetadataPaths are where idphooks answers with the IdP's metadata,
	// its signing certificates replaced by idphooks'. The path of the
	// IdP's own metadata URL is always one of them: an SP fetching it
	// through Caddy must never learn the certificate that would let it
	// accept the IdP's responses unhooked.
	MetadataPaths []string

	// Paths limit the requests whose answers are looked at to these path
	// prefixes; nil looks at every answer through the handler (the Caddy
	// route already says which traffic is the IdP's).
	Paths []string

	// Algorithms is the allow-list for upstream signatures and digests
	// (DefaultAlgorithms when nil); SignatureAlgorithm signs idphooks'
	// messages (RSASHA256 when empty).
	Algorithms         []string
	SignatureAlgorithm string

	// ProtectedAttributes are attributes hooks may not touch, beside the
	// elements that are always protected.
	ProtectedAttributes []string

	// SPs holds per-SP settings by entity id; SPs not listed get the
	// defaults.
	SPs map[string]SP

	// Leeway is the clock skew allowed on the IdP's times. Default: 1 min.
	Leeway time.Duration

	// MaxBody caps the pages and documents idphooks reads. Default: 1 MiB.
	MaxBody int64

	// NameIDs remembers the NameIDs hooks set, for the IdP's logout
	// requests; nil: they name the IdP's.
	NameIDs NameIDs

	Dispatcher *events.Dispatcher
	Keys       Keys
	Logger     *zap.Logger

	// Decryption, when set, decrypts assertions the IdP encrypted to
	// idphooks, and its certificates are the served metadata's encryption
	// keys. Nil: an encrypted assertion passes as it came, unhooked.
	Decryption Decryption

	// RequestHeaders are the request headers hooks may see.
	RequestHeaders []string

	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Interceptor is the SAML interceptor: it catches the IdP's messages to
// SPs on their way through the browser, verifies them, runs the hooks,
// and re-signs them with idphooks' key. It is safe for concurrent use.
type Interceptor struct {
	cfg      Config
	policy   events.AssertionPolicy
	metadata map[string]bool
	log      *zap.Logger
	outage   outage
	passLog  logevery.Limiter
}

// New validates cfg and returns an Interceptor.
func New(cfg Config) (*Interceptor, error) {
	if cfg.IdP == nil {
		return nil, errors.New("saml: idp_metadata is required")
	}
	if cfg.Keys == nil || cfg.Dispatcher == nil {
		return nil, errors.New("saml: signing keys and dispatcher are required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.RequestHeaders == nil {
		cfg.RequestHeaders = interception.DefaultRequestHeaders
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SignatureAlgorithm == "" {
		cfg.SignatureAlgorithm = RSASHA256
	}
	if _, ok := rsaHashes[cfg.SignatureAlgorithm]; !ok {
		return nil, errors.New("saml: signature_algorithm must be an RSA one")
	}
	if err := checkSPs(cfg.SPs); err != nil {
		return nil, err
	}
	i := &Interceptor{
		cfg:      cfg,
		policy:   events.NewAssertionPolicy(cfg.ProtectedAttributes),
		metadata: map[string]bool{},
		log:      cfg.Logger,
	}
	paths := cfg.MetadataPaths
	if cfg.IdP.URL != "" {
		paths = append(paths, interception.PathOf(cfg.IdP.URL))
	}
	for _, p := range paths {
		i.metadata[interception.NormalizePath(p)] = true
	}
	for k, p := range cfg.Paths {
		cfg.Paths[k] = interception.NormalizePath(p)
	}
	return i, nil
}

// Raises lists the lifecycle events this interceptor raises. A nil
// *Interceptor answers too.
func (i *Interceptor) Raises() []string {
	return []string{events.BeforeSAMLAssertion, events.AfterLogin, events.AfterLogout}
}

// ServeHTTP handles one request on its way to the IdP.
func (i *Interceptor) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	return interception.Respond(w, i.serve(w, r, next))
}

func (i *Interceptor) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := interception.NormalizePath(r.URL.Path)
	if i.metadata[p] {
		if i.cfg.IdP.IsOwnFetch(r) {
			return next.ServeHTTP(w, r)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Passed on, the IdP's own document would answer (an IdP
			// serving its metadata to any method): never through Caddy.
			w.Header().Set("Allow", "GET, HEAD")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return nil
		}
		return i.serveMetadata(w, r)
	}
	if !i.inScope(p) {
		return next.ServeHTTP(w, r)
	}
	// Any HTML answer may be read: it must come in a coding idphooks
	// decodes, or every page would be refused.
	interception.DecodableOnly(r.Header)
	c := interception.NewCapture(w, i.cfg.MaxBody, mayCarryMessage)
	err := c.Serve(next, r)
	if !c.Held() || (err != nil && !c.Over()) {
		c.Release()
		return err
	}
	defer c.Release()
	if c.Over() {
		// Whether it carried a message cannot be told any more: refused,
		// as an unhooked response must never reach an SP.
		return i.refuse("identity provider page too large", interception.ErrTooLarge)
	}
	if c.Status() >= 300 {
		return i.serveRedirect(w, r, c)
	}
	return i.servePage(w, r, c)
}

// inScope reports whether answers to path are looked at.
func (i *Interceptor) inScope(p string) bool {
	if len(i.cfg.Paths) == 0 {
		return true
	}
	for _, prefix := range i.cfg.Paths {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// mayCarryMessage holds the answers a SAML message can travel in towards
// an SP: a successful HTML page (the POST binding) or a redirect whose
// Location carries one (the Redirect binding). Everything else streams.
func mayCarryMessage(status int, h http.Header) bool {
	switch {
	case status >= 200 && status < 300:
		types := h.Values("Content-Type")
		if len(types) == 0 {
			// No type at all is sniffed by browsers, and may be HTML.
			return true
		}
		// Browsers join repeated fields and take the last type that
		// parses (Fetch, "extract a MIME type"): any of them may be the
		// one a page is rendered as.
		for _, field := range types {
			for _, ct := range strings.Split(field, ",") {
				if rendersAsDocument(ct) {
					return true
				}
			}
		}
		return false
	case status >= 300 && status < 400:
		return locationCarriesMessage(h.Get("Location"))
	}
	return false
}

// rendersAsDocument reports whether a browser navigating to an answer of
// type ct may render it as a document whose forms and scripts run: HTML,
// any XML type (an XHTML form in an XML or SVG document posts like one in
// HTML), and the types it sniffs instead (none that parses, unknown/unknown,
// application/unknown, */*; MIME Sniffing §7.1).
func rendersAsDocument(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	typ, sub, ok := strings.Cut(mt, "/")
	switch {
	case !ok || typ == "" || sub == "" || strings.ContainsAny(mt, " \t\"()<>@:[]?={}"):
		return true
	case mt == "text/html", mt == "text/xml", mt == "application/xml", strings.HasSuffix(sub, "+xml"):
		return true
	case mt == "unknown/unknown", mt == "application/unknown", mt == "*/*":
		return true
	}
	return false
}

// sp returns the settings of the SP called entityID.
func (i *Interceptor) sp(entityID string) SP { return i.cfg.SPs[entityID] }

// signer is idphooks' key that signs now.
func (i *Interceptor) signer() (*Signer, error) {
	key, cert, err := i.cfg.Keys.SAMLSigner()
	if err != nil {
		return nil, err
	}
	return &Signer{Key: key, Certificate: cert, Algorithm: i.cfg.SignatureAlgorithm, Now: i.cfg.Now}, nil
}

// verifier checks upstream messages against the metadata's certificates.
func (i *Interceptor) verifier(md *IdPMetadata) *Verifier {
	return &Verifier{Certificates: md.Signing, Algorithms: i.cfg.Algorithms, Now: i.cfg.Now, DecryptionKeys: i.decryptionKeys()}
}

// eventRequest is the request as hooks may see it.
func (i *Interceptor) eventRequest(r *http.Request) events.Request {
	return interception.EventRequest(r, i.cfg.RequestHeaders)
}
