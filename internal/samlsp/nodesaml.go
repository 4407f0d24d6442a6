package samlsp

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/idphooks/idphooks/internal/testidp"
)

// NodeOptions configures StartNodeSP.
type NodeOptions struct {
	// EntityID is the SP's entity id (node-saml's issuer, and the Audience
	// it wants). Empty means http://127.0.0.1:PORT/saml/metadata.
	EntityID string
	// IDPMetadataURL is fetched for the IdP's entity id (node-saml's
	// idpIssuer), its HTTP-Redirect SSO and SLO locations (entryPoint and
	// logoutUrl) and, unless IDPCertificates is set, the certificates of
	// its signing KeyDescriptors (idpCert). Required.
	IDPMetadataURL string
	// IDPCertificates, when set, are the only certificates node-saml
	// trusts, instead of the metadata's.
	IDPCertificates []*x509.Certificate
	// WantAssertionsSigned and WantAuthnResponseSigned are node-saml's
	// options of those names: which signatures it requires.
	WantAssertionsSigned    bool
	WantAuthnResponseSigned bool
	// HTTPClient fetches IDPMetadataURL. Nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
	// Log, when set, receives npm's and node's output.
	Log io.Writer
	// StartTimeout bounds npm ci plus the start of node; default 2 minutes.
	StartTimeout time.Duration
}

// NodeSP is a running @node-saml/node-saml service provider (v5, pinned in
// nodesaml/package-lock.json): the second SP beside crewjam's, from another
// ecosystem (xml-crypto, xmldom, xml2js).
type NodeSP struct {
	entityID string
	base     *url.URL
	hc       *http.Client

	cmd    *exec.Cmd
	stdin  io.Closer
	exited chan struct{}
	stderr *testidp.TailBuffer
}

// NodeLogin is a login node-saml accepted: the fields of its Profile.
type NodeLogin struct {
	Issuer       string              `json:"issuer"`
	NameID       string              `json:"name_id"`
	NameIDFormat string              `json:"name_id_format"`
	SessionIndex string              `json:"session_index"`
	InResponseTo string              `json:"in_response_to"`
	Attributes   map[string][]string `json:"attributes"`
	// Response is the decoded SAMLResponse as posted to the ACS.
	Response []byte `json:"-"`
	// RelayState is the RelayState of the login, which Logout names it by.
	RelayState string `json:"-"`
	// Prompted is true when the IdP showed its login form.
	Prompted bool `json:"-"`
}

// NodeLogoutRequest is an IdP LogoutRequest node-saml accepted.
type NodeLogoutRequest struct {
	ID           string `json:"id"`
	Issuer       string `json:"issuer"`
	NameID       string `json:"name_id"`
	NameIDFormat string `json:"name_id_format"`
	SessionIndex string `json:"session_index"`
}

// NodeError is node-saml's refusal of a message.
type NodeError struct {
	// Message is node-saml's error message.
	Message string `json:"message"`
	// Status is the samlp:Status element quoted by a SamlStatusError (a
	// response whose status is not Success), else empty.
	Status string `json:"status"`
	// Response is the decoded SAMLResponse refused at the ACS, if any.
	Response []byte `json:"-"`
}

func (e *NodeError) Error() string {
	if e.Status != "" {
		return "samlsp: node-saml refused: " + e.Message + " (" + e.Status + ")"
	}
	return "samlsp: node-saml refused: " + e.Message
}

// StartNodeSP runs nodesaml/server.mjs under node on 127.0.0.1 with a random
// port, with node-saml's SAML configured from opts; it runs "npm ci" in the
// nodesaml folder first when node_modules is missing, so node and npm must
// be on PATH. Requests and logout requests are unsigned; InResponseTo is
// checked when present (validateInResponseTo "ifPresent").
func StartNodeSP(ctx context.Context, opts NodeOptions) (*NodeSP, error) {
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.IDPMetadataURL == "" {
		return nil, errors.New("samlsp: node-saml: IDPMetadataURL is required")
	}
	md, err := idpMetadata(ctx, Options{IDPMetadataURL: opts.IDPMetadataURL, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	certs := opts.IDPCertificates
	if len(certs) == 0 {
		if certs, err = SigningCertificates(md); err != nil {
			return nil, err
		}
	}
	var pems []string
	for _, c := range certs {
		pems = append(pems, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	sso, slo := redirectLocations(md)
	if sso == "" {
		return nil, fmt.Errorf("samlsp: node-saml: %s has no HTTP-Redirect SingleSignOnService", opts.IDPMetadataURL)
	}
	conf, err := json.Marshal(map[string]any{
		"entity_id":                  opts.EntityID,
		"idp_entity_id":              md.EntityID,
		"sso_url":                    sso,
		"slo_url":                    slo,
		"idp_certs":                  pems,
		"want_assertions_signed":     opts.WantAssertionsSigned,
		"want_authn_response_signed": opts.WantAuthnResponseSigned,
	})
	if err != nil {
		return nil, err
	}

	dir, err := NodeSAMLDir()
	if err != nil {
		return nil, err
	}
	if err := testidp.NPMCI(ctx, dir, "@node-saml/node-saml", opts.Log); err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODESAML_CONFIG="+string(conf))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &NodeSP{hc: hc, cmd: cmd, stdin: stdin, exited: make(chan struct{}), stderr: &testidp.TailBuffer{Max: 16 << 10, W: opts.Log}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("samlsp: node-saml: start node: %w", err)
	}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(s.exited)
	}()
	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "listening "); ok {
				select {
				case portc <- strings.TrimSpace(p):
				default:
				}
			}
			if opts.Log != nil {
				fmt.Fprintln(opts.Log, line)
			}
		}
	}()
	select {
	case port := <-portc:
		s.base = &url.URL{Scheme: "http", Host: "127.0.0.1:" + port}
	case <-s.exited:
		return nil, fmt.Errorf("samlsp: node-saml: node exited: %v\nnode stderr:\n%s", waitErr, s.stderr)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("samlsp: node-saml: node did not report its port in time\nnode stderr:\n%s", s.stderr)
	}
	s.entityID = opts.EntityID
	if s.entityID == "" {
		s.entityID = s.url(MetadataPath)
	}
	return s, nil
}

// NodeSAMLDir returns the folder holding server.mjs and package.json: the
// nodesaml folder next to this source file, or internal/samlsp/nodesaml
// under the module root found from the working directory.
func NodeSAMLDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "nodesaml")
		if _, err := os.Stat(filepath.Join(d, "server.mjs")); err == nil {
			return d, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, "internal", "samlsp", "nodesaml")
			if _, err := os.Stat(filepath.Join(p, "server.mjs")); err == nil {
				return p, nil
			}
			break
		}
	}
	return "", errors.New("samlsp: cannot find internal/samlsp/nodesaml/server.mjs")
}

// Close stops node: server.mjs exits when its stdin closes, else it is
// killed after 5 seconds.
func (s *NodeSP) Close() error {
	s.stdin.Close()
	select {
	case <-s.exited:
		return nil
	case <-time.After(5 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	return nil
}

// EntityID is the SP's entity id.
func (s *NodeSP) EntityID() string { return s.entityID }

// ACSURL is the SP's AssertionConsumerService (HTTP-POST).
func (s *NodeSP) ACSURL() string { return s.url(ACSPath) }

// SLOURL is the SP's SingleLogoutService (HTTP-POST and HTTP-Redirect).
func (s *NodeSP) SLOURL() string { return s.url(SLOPath) }

// NodeSLOHit is one request to the SP's SLO endpoint.
type NodeSLOHit struct {
	// Method is GET for the HTTP-Redirect binding, POST for HTTP-POST.
	Method string `json:"method"`
	// SigAlg is the query signature's algorithm of a Redirect binding
	// message, empty when it came unsigned (which node-saml accepts).
	SigAlg string `json:"sig_alg"`
}

// SLOHits are the requests the SLO endpoint got so far, in order.
func (s *NodeSP) SLOHits(ctx context.Context) ([]NodeSLOHit, error) {
	var h []NodeSLOHit
	err := s.getJSON(ctx, "/slo-hits", &h)
	return h, err
}

func (s *NodeSP) url(path string) string {
	u := *s.base
	u.Path = path
	return u.String()
}

// Login runs an SP-initiated login as Login of crewjam's SP does: node-saml's
// AuthnRequest URL (getAuthorizeUrlAsync), the IdP's login form filled
// with user and password, the POST binding page posted to the ACS, where
// validatePostResponseAsync decides. It returns what node-saml accepted, or
// its refusal as a *NodeError.
func (s *NodeSP) Login(ctx context.Context, browser *http.Client, user, password string) (*NodeLogin, error) {
	relay := newRelayState()
	b, err := newBrowser(browser)
	if err != nil {
		return nil, err
	}
	creds := &credentials{user: user, password: password}
	start := s.url("/login") + "?" + url.Values{"RelayState": {relay}}.Encode()
	if err := b.walk(ctx, start, creds, s.at(ACSPath), false); err != nil {
		return nil, err
	}
	var o struct {
		Login    *NodeLogin `json:"login"`
		Error    *NodeError `json:"error"`
		Response string     `json:"response"`
	}
	if err := s.outcome(ctx, relay, &o); err != nil {
		return nil, err
	}
	if o.Error != nil {
		o.Error.Response = []byte(o.Response)
		return nil, o.Error
	}
	if o.Login == nil {
		return nil, fmt.Errorf("samlsp: node-saml recorded neither a login nor an error for RelayState %q", relay)
	}
	o.Login.Response, o.Login.RelayState, o.Login.Prompted = []byte(o.Response), relay, creds.used
	return o.Login, nil
}

// Logout runs an SP-initiated single logout for login: node-saml's
// LogoutRequest URL (getLogoutUrlAsync with the login's profile) and the
// IdP's LogoutResponse, by whichever binding the IdP answers with, to the
// SLO endpoint, where node-saml validates it (validatePostResponseAsync or
// validateRedirectAsync). browser must carry the IdP session's cookies.
func (s *NodeSP) Logout(ctx context.Context, browser *http.Client, login *NodeLogin) error {
	if browser == nil || browser.Jar == nil {
		return errors.New("samlsp: Logout needs the browser (with its cookie jar) that logged in")
	}
	relay := newRelayState()
	b, err := newBrowser(browser)
	if err != nil {
		return err
	}
	start := s.url("/logout") + "?" + url.Values{"login": {login.RelayState}, "RelayState": {relay}}.Encode()
	if err := b.walk(ctx, start, nil, s.at(SLOPath), false); err != nil {
		return err
	}
	var o struct {
		Logout *struct {
			LoggedOut bool `json:"logged_out"`
		} `json:"logout"`
		Error *NodeError `json:"error"`
	}
	if err := s.outcome(ctx, relay, &o); err != nil {
		return err
	}
	switch {
	case o.Error != nil:
		return o.Error
	case o.Logout == nil || !o.Logout.LoggedOut:
		return fmt.Errorf("samlsp: node-saml did not report a logout for RelayState %q", relay)
	}
	return nil
}

// BrowseLogout opens start (an IdP's own logout page) in browser and goes
// through it as BrowseLogout of crewjam's SP does. The IdP's LogoutRequests
// that reach the SP are validated by node-saml (validatePostRequestAsync or
// validateRedirectAsync) and answered with its LogoutResponse by Redirect;
// it returns those accepted, in order, or the first refusal.
func (s *NodeSP) BrowseLogout(ctx context.Context, browser *http.Client, start string) ([]NodeLogoutRequest, error) {
	if browser == nil || browser.Jar == nil {
		return nil, errors.New("samlsp: BrowseLogout needs the browser (with its cookie jar) that logged in")
	}
	var stale []json.RawMessage
	if err := s.getJSON(ctx, "/idp-logouts", &stale); err != nil {
		return nil, err
	}
	b, err := newBrowser(browser)
	if err != nil {
		return nil, err
	}
	if err := b.walk(ctx, start, nil, func(*url.URL) bool { return false }, true); err != nil {
		return nil, err
	}
	var got []struct {
		Request *NodeLogoutRequest `json:"request"`
		Error   *NodeError         `json:"error"`
	}
	if err := s.getJSON(ctx, "/idp-logouts", &got); err != nil {
		return nil, err
	}
	var reqs []NodeLogoutRequest
	for _, g := range got {
		if g.Error != nil {
			return nil, g.Error
		}
		reqs = append(reqs, *g.Request)
	}
	return reqs, nil
}

// at tells the browser's walk that a page is the SP's path.
func (s *NodeSP) at(path string) func(*url.URL) bool {
	return func(u *url.URL) bool { return u.Host == s.base.Host && u.Path == path }
}

// outcome asks node what its ACS or SLO endpoint concluded for relay.
func (s *NodeSP) outcome(ctx context.Context, relay string, v any) error {
	return s.getJSON(ctx, "/outcome?"+url.Values{"RelayState": {relay}}.Encode(), v)
}

func (s *NodeSP) getJSON(ctx context.Context, pathQuery string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.String()+pathQuery, nil)
	if err != nil {
		return err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("samlsp: node-saml: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return fmt.Errorf("samlsp: node-saml: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("samlsp: node-saml: GET %s: HTTP %d (nothing recorded?)\nnode stderr:\n%s", pathQuery, resp.StatusCode, s.stderr)
	}
	return json.Unmarshal(b, v)
}

// SigningCertificates are the certificates of the signing KeyDescriptors
// (use="signing" or no use) of md's IdP roles, in document order.
func SigningCertificates(md *saml.EntityDescriptor) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for _, d := range md.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					return nil, fmt.Errorf("samlsp: X509Certificate of %s: %w", md.EntityID, err)
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("samlsp: X509Certificate of %s: %w", md.EntityID, err)
				}
				certs = append(certs, c)
			}
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("samlsp: %s has no signing certificate", md.EntityID)
	}
	return certs, nil
}

// FetchSigningCertificates fetches an IdP's metadata and returns
// SigningCertificates of it. A nil hc is a client with a 30-second timeout.
func FetchSigningCertificates(ctx context.Context, hc *http.Client, metadataURL string) ([]*x509.Certificate, error) {
	md, err := idpMetadata(ctx, Options{IDPMetadataURL: metadataURL, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return SigningCertificates(md)
}

// redirectLocations are md's first HTTP-Redirect SSO and SLO locations.
func redirectLocations(md *saml.EntityDescriptor) (sso, slo string) {
	for _, d := range md.IDPSSODescriptors {
		for _, e := range d.SingleSignOnServices {
			if e.Binding == saml.HTTPRedirectBinding && sso == "" {
				sso = e.Location
			}
		}
		for _, e := range d.SingleLogoutServices {
			if e.Binding == saml.HTTPRedirectBinding && slo == "" {
				slo = e.Location
			}
		}
	}
	return sso, slo
}
