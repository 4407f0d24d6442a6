package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/idphooks/idphooks/egress"
)

// Defaults of an endpoint.
const (
	// DefaultTimeout bounds one notify attempt: the spec recommends 15
	// to 30 s for receivers to acknowledge.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxResponse caps what is read of a receiver's answer: an
	// enrich answer is parsed from it, a notify answer only shown in
	// the error of a failed attempt.
	DefaultMaxResponse = 64 << 10
	// maxErrorText is how much of an answer an error quotes.
	maxErrorText = 200
)

// Config is one webhook endpoint, as the Caddy module hands it over.
type Config struct {
	// Name identifies the endpoint in logs and errors; default its URL
	// without query or credentials.
	Name string
	// URL receives the POSTs: https://, or http:// for a host listed in
	// AllowHosts.
	URL string
	// AllowHosts has the meaning it has in a hook block: host names,
	// "*.suffix" patterns and CIDRs that may be reached although private
	// or loopback (never a cloud metadata address unless a CIDR lists
	// it), and the only hosts reached by plain http.
	AllowHosts []string
	// Secrets (whsec_) and SigningKeys (whsk_) sign every request; see
	// NewSigner.
	Secrets     []string
	SigningKeys []string
	// Timeout bounds one attempt of a notify delivery: connecting, the
	// TLS handshake, the request and reading the answer. Default
	// DefaultTimeout. An enrich call is bounded by its invocation's
	// timeout instead.
	Timeout time.Duration
	// MaxResponse caps the answer read; default DefaultMaxResponse.
	MaxResponse int64
	// RootCAs verifies the receivers' certificates; nil means the
	// system's roots. Tests hand their own CA here.
	RootCAs *x509.CertPool
	// Resolver resolves host names for the egress check; nil means the
	// system's. Tests hand a fixed table here.
	Resolver egress.Resolver
}

// endpoint is what Sender and Enricher share: the checked URL, the
// client whose every connection passes the egress rules, the signer.
type endpoint struct {
	name    string
	url     *url.URL
	client  *http.Client
	signer  *Signer
	timeout time.Duration
	max     int64
	secrets []string // raw, to redact
}

func newEndpoint(c Config) (*endpoint, error) {
	u, err := checkURL(c.URL)
	if err != nil {
		return nil, err
	}
	name := c.Name
	if name == "" {
		name = displayURL(u)
	}
	policy, listed, err := policyOf(c.AllowHosts, c.Resolver)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", name, err)
	}
	if len(policy.Hosts) > 0 && !listed(u.Hostname()) {
		return nil, fmt.Errorf("webhook %s: host %s is not in allow_hosts, which lists the only hosts it may reach", name, u.Hostname())
	}
	if u.Scheme == "http" && !listed(u.Hostname()) {
		return nil, fmt.Errorf("webhook %s: plain http:// is accepted only for hosts listed in allow_hosts (use https://, or list %s)", name, u.Hostname())
	}
	signer, err := NewSigner(c.Secrets, c.SigningKeys)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", name, err)
	}
	if c.Timeout < 0 || c.MaxResponse < 0 {
		return nil, fmt.Errorf("webhook %s: negative timeout or response cap", name)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponse == 0 {
		c.MaxResponse = DefaultMaxResponse
	}
	transport := &http.Transport{
		Proxy:       nil, // a proxy would dial for us, past the egress checks
		DialContext: policy.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:    c.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &endpoint{
		name: name,
		url:  u,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: the spec counts a 3xx as a
			// failure (update the URL instead), and following one would
			// send a signed event where nobody configured it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		signer:  signer,
		timeout: c.Timeout,
		max:     c.MaxResponse,
		secrets: append(append([]string(nil), c.Secrets...), c.SigningKeys...),
	}, nil
}

// checkURL accepts an absolute http(s) URL with a host and no fragment.
func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("webhook: the URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("webhook: bad URL: %v", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("webhook %s: the URL must be https:// (or http:// for a host in allow_hosts), not %q", u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("webhook %s: the URL has no host", u.Redacted())
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("webhook %s: the URL has a #fragment, which is never sent", u.Redacted())
	}
	if u.User != nil {
		// A password in the URL would show wherever the receiver is
		// named (logs, the admin API, the audit): receivers verify the
		// signature instead.
		return nil, fmt.Errorf("webhook %s: the URL holds user information; authenticate receivers by the webhook signature", u.Redacted())
	}
	return u, nil
}

// displayURL is the URL as logs may show it: no credentials, no query
// (which may carry a token).
func displayURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery = nil, "", false
	return c.String()
}

// policyOf builds the egress policy of allow_hosts, and the test of
// which hosts plain http may reach: those listed by name, or an address
// literal within a listed CIDR.
func policyOf(allow []string, r egress.Resolver) (*egress.Policy, func(host string) bool, error) {
	var hosts, cidrs []string
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, nil, errors.New("allow_hosts: empty entry")
		}
		// As in a hook block: a CIDR opens a range, anything else (a
		// single address included, so a metadata address stays closed)
		// is a host.
		if _, _, err := net.ParseCIDR(a); err == nil {
			cidrs = append(cidrs, a)
		} else if strings.Contains(a, "/") {
			return nil, nil, fmt.Errorf("allow_hosts: %q is not a CIDR: %v", a, err)
		} else {
			hosts = append(hosts, a)
		}
	}
	prefixes, err := egress.ParsePrefixes(cidrs)
	if err != nil {
		return nil, nil, fmt.Errorf("allow_hosts: %w", err)
	}
	// The same meaning as in a hook block: listed names are the only
	// ones reached (private addresses included), CIDRs open ranges.
	p := &egress.Policy{Hosts: hosts, CIDRs: prefixes, Resolver: r}
	listed := func(host string) bool {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
				return true
			}
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			for _, pr := range prefixes {
				if pr.Contains(ip.Unmap()) {
					return true
				}
			}
		}
		return false
	}
	return p, listed, nil
}

// answer is what one POST came back with.
type answer struct {
	status     int
	header     http.Header
	body       []byte
	truncated  bool // the body was longer than the cap
	retryAfter time.Duration
}

// post sends body, signed with id and the time of this attempt, and reads
// the answer up to the cap, all within ctx.
func (e *endpoint) post(ctx context.Context, id string, body []byte) (*answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", e.name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "idphooks")
	e.signer.Sign(req.Header, id, time.Now(), body)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, e.transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, e.max+1))
	if err != nil {
		return nil, e.transportError(ctx, fmt.Errorf("reading the answer: %w", err))
	}
	a := &answer{status: resp.StatusCode, header: resp.Header, body: b}
	if int64(len(b)) > e.max {
		a.body, a.truncated = b[:e.max], true
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.retryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a, nil
}

// transportError says why no answer came, without the URL's query or
// credentials (url.Error quotes the whole URL).
func (e *endpoint) transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("webhook %s: %w", e.name, errTimeout)
	}
	return fmt.Errorf("webhook %s: %w", e.name, err)
}

// errTimeout is the failure of an attempt that outlived its deadline.
var errTimeout = errors.New("no answer before the deadline")

// statusError is the failure of a non-2xx answer, quoting its start.
func (e *endpoint) statusError(a *answer) error {
	msg := fmt.Sprintf("webhook %s: answered %d %s", e.name, a.status, http.StatusText(a.status))
	if a.status >= 300 && a.status < 400 {
		if loc := a.header.Get("Location"); loc != "" {
			msg += fmt.Sprintf(" (redirect to %s not followed: update the webhook URL)", quote(loc, maxErrorText))
		} else {
			msg += " (redirects are not followed)"
		}
	}
	if t := quote(string(a.body), maxErrorText); t != `""` {
		msg += ": " + t
	}
	return errors.New(e.redact(msg))
}

// redact hides the endpoint's own secrets in text that quotes a receiver.
func (e *endpoint) redact(text string) string {
	for _, v := range e.secrets {
		if v != "" {
			text = strings.ReplaceAll(text, v, "[REDACTED]")
		}
	}
	return text
}

// quote shortens s to about max bytes on one line, control characters
// escaped, for an error message.
func quote(s string, max int) string {
	s = strings.TrimSpace(s)
	cut := false
	if len(s) > max {
		s, cut = s[:max], true
	}
	q := fmt.Sprintf("%q", strings.ToValidUTF8(s, "\uFFFD"))
	if cut {
		q += "…"
	}
	return q
}
