// Package samlsp is a real SAML service provider for integration tests:
// github.com/crewjam/saml's ServiceProvider behind a loopback listener,
// driven through an IdP's HTML pages by an HTTP client that acts as a
// browser.
//
// The SP serves its AssertionConsumerService (HTTP-POST binding) at
// /saml/acs, its SingleLogoutService (HTTP-POST and HTTP-Redirect) at
// /saml/slo and its metadata at /saml/metadata. Everything the IdP sends
// reaches it the way a browser delivers it: the POST binding page's form
// is read and posted, redirects are followed. Whatever the SP concluded
// (a verified assertion, a valid LogoutResponse or LogoutRequest, or the
// error crewjam gave) is handed back to the call that drove the browser.
package samlsp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/crewjam/saml"
	crewsp "github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"
)

// Paths the SP serves on its listener.
const (
	ACSPath      = "/saml/acs"
	SLOPath      = "/saml/slo"
	MetadataPath = "/saml/metadata"
)

// Options configures New.
type Options struct {
	// EntityID is the SP's entity id. Empty means the metadata URL,
	// http://127.0.0.1:PORT/saml/metadata.
	EntityID string
	// IDPMetadata is the IdP's metadata document (an EntityDescriptor, or
	// an EntitiesDescriptor with one IdP). If empty, IDPMetadataURL is
	// fetched.
	IDPMetadata []byte
	// IDPMetadataURL is where the IdP's metadata is fetched from when
	// IDPMetadata is empty, e.g. Keycloak's descriptor or idphooks'
	// metadata served through Caddy.
	IDPMetadataURL string
	// HTTPClient fetches IDPMetadataURL. Nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Key and Certificate are the SP's signing and decryption key pair.
	// Nil means a new RSA-2048 key and a self-signed certificate.
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
	// SignRequests makes the SP sign its AuthnRequests and LogoutRequests
	// (RSA-SHA256; in the query string with the Redirect binding).
	// LogoutRequests and LogoutResponses are always signed.
	SignRequests bool
	// Addr is the listener's address; default 127.0.0.1:0.
	Addr string
	// Listener, when set, is the listener to serve on (Addr is then
	// ignored): a test that must name the SP's URLs before it starts holds
	// the port from the start, where a port closed and taken again could
	// go to another test in between.
	Listener net.Listener
}

// SP is a running service provider.
type SP struct {
	// SP is crewjam's ServiceProvider; tests may adjust its fields before
	// the first login.
	SP *saml.ServiceProvider
	// Key and Certificate are the SP's key pair: give Certificate to the
	// IdP as the SP's signing or encryption certificate.
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate

	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	pending  map[string]string   // relay state -> AuthnRequest ID
	logouts  map[string]string   // relay state -> LogoutRequest ID
	outcomes map[string]*outcome // relay state -> what the SP concluded
	idpReqs  []*saml.LogoutRequest
	sloSeen  []string // method of each request to the SLO endpoint
}

// outcome is what a request to the ACS or SLO concluded.
type outcome struct {
	login  *Result
	logout *saml.LogoutResponse
	err    error
}

// Result is a login the SP accepted.
type Result struct {
	// Assertion is the assertion crewjam parsed, verified and, when it
	// came encrypted, decrypted.
	Assertion *saml.Assertion
	// Response is the decoded SAMLResponse as posted to the ACS.
	Response []byte
	// RelayState is the RelayState posted with it.
	RelayState string
	// NameID, NameIDFormat and SessionIndex are from the assertion.
	NameID       string
	NameIDFormat string
	SessionIndex string
	// Attributes are the assertion's attribute values by name; attributes
	// of the same name (as Keycloak sends multi-valued ones) are merged.
	Attributes map[string][]string
	// Prompted is true when the IdP showed its login form (false when its
	// session cookie was enough).
	Prompted bool
}

// New starts an SP on a loopback listener. Close stops it.
func New(ctx context.Context, opts Options) (*SP, error) {
	key, cert := opts.Key, opts.Certificate
	if key == nil || cert == nil {
		var err error
		if key, cert, err = NewKeyPair("idphooks test SP"); err != nil {
			return nil, err
		}
	}
	idp, err := idpMetadata(ctx, opts)
	if err != nil {
		return nil, err
	}
	ln := opts.Listener
	if ln == nil {
		addr := opts.Addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("samlsp: %w", err)
		}
	}
	base := url.URL{Scheme: "http", Host: ln.Addr().String()}
	at := func(path string) url.URL { u := base; u.Path = path; return u }
	s := &SP{
		Key:         key,
		Certificate: cert,
		ln:          ln,
		pending:     map[string]string{},
		logouts:     map[string]string{},
		outcomes:    map[string]*outcome{},
	}
	s.SP = &saml.ServiceProvider{
		EntityID:                         opts.EntityID,
		Key:                              key,
		Certificate:                      cert,
		MetadataURL:                      at(MetadataPath),
		AcsURL:                           at(ACSPath),
		SloURL:                           at(SLOPath),
		IDPMetadata:                      idp,
		AllowIDPInitiated:                true,
		LogoutSignatureMethod:            dsig.RSASHA256SignatureMethod,
		LogoutBindings:                   []string{saml.HTTPPostBinding, saml.HTTPRedirectBinding},
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		RejectSHA1Signatures:             true,
	}
	if s.SP.EntityID == "" {
		s.SP.EntityID = s.SP.MetadataURL.String()
	}
	if opts.SignRequests {
		s.SP.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	mux := http.NewServeMux()
	mux.HandleFunc(ACSPath, s.serveACS)
	mux.HandleFunc(SLOPath, s.serveSLO)
	mux.HandleFunc(MetadataPath, s.serveMetadata)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// EntityID is the SP's entity id.
func (s *SP) EntityID() string { return s.SP.EntityID }

// ACSURL is the SP's AssertionConsumerService.
func (s *SP) ACSURL() string { return s.SP.AcsURL.String() }

// SLOURL is the SP's SingleLogoutService.
func (s *SP) SLOURL() string { return s.SP.SloURL.String() }

// MetadataURL is where the SP serves its metadata.
func (s *SP) MetadataURL() string { return s.SP.MetadataURL.String() }

// SLOMethods are the HTTP methods of the requests the SLO endpoint got so
// far, in order: GET for the HTTP-Redirect binding, POST for HTTP-POST.
func (s *SP) SLOMethods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sloSeen)
}

// Close stops the listener.
func (s *SP) Close() error { return s.srv.Close() }

func idpMetadata(ctx context.Context, opts Options) (*saml.EntityDescriptor, error) {
	if len(opts.IDPMetadata) > 0 {
		md, err := crewsp.ParseMetadata(opts.IDPMetadata)
		if err != nil {
			return nil, fmt.Errorf("samlsp: IdP metadata: %w", err)
		}
		return md, nil
	}
	if opts.IDPMetadataURL == "" {
		return nil, errors.New("samlsp: no IdP metadata (IDPMetadata or IDPMetadataURL)")
	}
	u, err := url.Parse(opts.IDPMetadataURL)
	if err != nil {
		return nil, fmt.Errorf("samlsp: IdP metadata URL: %w", err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	md, err := crewsp.FetchMetadata(ctx, hc, *u)
	if err != nil {
		return nil, fmt.Errorf("samlsp: IdP metadata from %s: %w", opts.IDPMetadataURL, err)
	}
	return md, nil
}

func (s *SP) serveMetadata(w http.ResponseWriter, r *http.Request) {
	b, err := xmlBytes(s.SP.Metadata())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(b)
}

// serveACS verifies a posted SAMLResponse against the AuthnRequest of its
// RelayState (none for an IdP-initiated login) and records the outcome.
func (s *SP) serveACS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	relay := r.PostForm.Get("RelayState")
	s.mu.Lock()
	var ids []string
	if id, ok := s.pending[relay]; ok {
		ids = []string{id}
		delete(s.pending, relay)
	}
	s.mu.Unlock()
	raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	a, err := s.SP.ParseResponse(r, ids)
	o := &outcome{err: err}
	if err != nil {
		o.err = fmt.Errorf("samlsp: the SP refused the response: %w", explain(err))
	} else {
		o.login = newResult(a, raw, relay)
	}
	s.record(relay, o)
	if o.err != nil {
		http.Error(w, o.err.Error(), http.StatusForbidden)
		return
	}
	fmt.Fprintf(w, "logged in as %s\n", o.login.NameID)
}

// explain adds crewjam's private cause, which its errors keep out of
// Error() so that it never reaches a browser; a test wants it.
func explain(err error) error {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		return fmt.Errorf("%w: %v", err, ire.PrivateErr)
	}
	return err
}

func (s *SP) record(relay string, o *outcome) {
	s.mu.Lock()
	s.outcomes[relay] = o
	s.mu.Unlock()
}

// take returns and forgets the outcome recorded for relay.
func (s *SP) take(relay string) (*outcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.outcomes[relay]
	delete(s.outcomes, relay)
	return o, ok
}

func newResult(a *saml.Assertion, raw []byte, relay string) *Result {
	res := &Result{Assertion: a, Response: raw, RelayState: relay, Attributes: map[string][]string{}}
	if a.Subject != nil && a.Subject.NameID != nil {
		res.NameID, res.NameIDFormat = a.Subject.NameID.Value, a.Subject.NameID.Format
	}
	for _, st := range a.AuthnStatements {
		if st.SessionIndex != "" {
			res.SessionIndex = st.SessionIndex
			break
		}
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			for _, v := range at.Values {
				res.Attributes[at.Name] = append(res.Attributes[at.Name], v.Value)
			}
		}
	}
	return res
}

// NewKeyPair makes an RSA-2048 key and a self-signed certificate for it,
// valid from an hour ago for a day.
func NewKeyPair(commonName string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}
