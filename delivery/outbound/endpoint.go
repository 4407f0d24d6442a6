package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idphooks/idphooks/egress"
)

// DefaultMaxResponse caps what is read of a receiver's answer: an enrich
// answer is parsed from it, others only quoted in the error of a failed
// attempt.
const DefaultMaxResponse = 64 << 10

// maxErrorText is how much of an answer an error quotes.
const maxErrorText = 200

// Config is one receiver's URL and the rules for reaching it.
type Config struct {
	// Kind names the sort of receiver in errors: "<Kind> <Name>: …".
	// Default "webhook".
	Kind string
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
	// MaxResponse caps the answer read; default DefaultMaxResponse.
	MaxResponse int64
	// Redact are values (secrets, an Authorization header) that no error
	// quoting the receiver may show.
	Redact []string
	// RootCAs verifies the receivers' certificates; nil means the
	// system's roots. Tests hand their own CA here.
	RootCAs *x509.CertPool
	// Resolver resolves host names for the egress check; nil means the
	// system's. Tests hand a fixed table here.
	Resolver egress.Resolver
}

// Endpoint is a checked URL and the client whose every connection passes
// the egress rules. It is safe for concurrent use.
type Endpoint struct {
	kind   string
	name   string
	url    *url.URL
	client *http.Client
	max    int64
	redact []string
}

// New checks c and builds the endpoint's client.
func New(c Config) (*Endpoint, error) {
	kind := c.Kind
	if kind == "" {
		kind = "webhook"
	}
	u, err := checkURL(kind, c.Name, c.URL)
	if err != nil {
		return nil, err
	}
	name := c.Name
	if name == "" {
		name = DisplayURL(u)
	}
	policy, listed, err := policyOf(c.AllowHosts, c.Resolver)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if len(policy.Hosts) > 0 && !listed(u.Hostname()) {
		return nil, fmt.Errorf("%s %s: host %s is not in allow_hosts, which lists the only hosts it may reach", kind, name, u.Hostname())
	}
	if u.Scheme == "http" && !listed(u.Hostname()) {
		return nil, fmt.Errorf("%s %s: plain http:// is accepted only for hosts listed in allow_hosts (use https://, or list %s)", kind, name, u.Hostname())
	}
	if c.MaxResponse < 0 {
		return nil, fmt.Errorf("%s %s: negative response cap", kind, name)
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
	var redact []string
	for _, v := range c.Redact {
		if v != "" {
			redact = appendEchoForms(redact, v)
		}
	}
	return &Endpoint{
		kind: kind,
		name: name,
		url:  u,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: a 3xx is a failed attempt
			// (update the URL instead; Standard Webhooks says so), and
			// following one would send a signed event where nobody
			// configured it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		max:    c.MaxResponse,
		redact: redact,
	}, nil
}

// Name is the endpoint's name.
func (e *Endpoint) Name() string { return e.name }

// URL is the endpoint's URL; the caller must not modify it.
func (e *Endpoint) URL() *url.URL { return e.url }

// MaxResponse is the cap on the answer read.
func (e *Endpoint) MaxResponse() int64 { return e.max }

// Errorf is an error about this endpoint: "<kind> <name>: …".
func (e *Endpoint) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s %s: %w", e.kind, e.name, fmt.Errorf(format, args...))
}

// Answer is what one POST came back with.
type Answer struct {
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool // the body was longer than the cap
	// RetryAfter is the answer's Retry-After (see ParseRetryAfter), read
	// from non-2xx answers only.
	RetryAfter time.Duration
}

// Post sends body with header (the caller's Content-Type, signatures,
// Authorization; User-Agent is idphooks) and reads the answer up to the
// cap, all within ctx.
func (e *Endpoint) Post(ctx context.Context, header http.Header, body []byte) (*Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", e.kind, e.name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "idphooks")
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, e.transportError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, e.max+1))
	if err != nil {
		return nil, e.transportError(ctx, fmt.Errorf("reading the answer: %w", err))
	}
	a := &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
	if int64(len(b)) > e.max {
		a.Body, a.Truncated = b[:e.max], true
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return a, nil
}

// transportError says why no answer came, without the URL's query or
// credentials (url.Error quotes the whole URL).
func (e *Endpoint) transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", e.kind, e.name, ErrTimeout)
	}
	// Go's client quotes what the receiver sent (a Location it cannot
	// parse, say), which may echo a secret.
	return fmt.Errorf("%s %s: %w", e.kind, e.name, redactedError{err, e.Redact(err.Error())})
}

// redactedError is an error whose text had the endpoint's secrets hidden;
// errors.Is still sees what it wraps.
type redactedError struct {
	err  error
	text string
}

func (r redactedError) Error() string { return r.text }
func (r redactedError) Unwrap() error { return r.err }

// ErrTimeout is the failure of an attempt that outlived its deadline.
var ErrTimeout = errors.New("no answer before the deadline")

// StatusError is the failure of an answer the caller does not take,
// quoting its start; detail, when not empty, is said after the status.
func (e *Endpoint) StatusError(a *Answer, detail string) error {
	msg := fmt.Sprintf("%s %s: answered %d %s", e.kind, e.name, a.Status, http.StatusText(a.Status))
	if a.Status >= 300 && a.Status < 400 {
		if loc := a.Header.Get("Location"); loc != "" {
			msg += fmt.Sprintf(" (redirect to %s not followed: update the %s URL)", e.Quote(loc, maxErrorText), e.kind)
		} else {
			msg += " (redirects are not followed)"
		}
	}
	if detail != "" {
		msg += " " + detail
	}
	if t := e.Quote(string(a.Body), maxErrorText); t != `""` {
		msg += ": " + t
	}
	return errors.New(msg)
}

// Quote is Quote of a receiver's text with the endpoint's secrets
// hidden first: cut or escaped, a secret the receiver echoes would no
// longer match, and its start (or all of it, escaped) would show.
func (e *Endpoint) Quote(text string, max int) string {
	return Quote(e.Redact(text), max)
}

// Redact hides the endpoint's secrets in text that quotes a receiver.
func (e *Endpoint) Redact(text string) string {
	for _, v := range e.redact {
		text = strings.ReplaceAll(text, v, "[REDACTED]")
	}
	return text
}

// appendEchoForms appends v and the spellings a receiver or a client
// error may echo it in: as Go's %q writes it (Quote, the client's
// errors), and as JSON encoders do: < > & as \u escapes (Go's) or
// not (Node's, PHP's), / as \/ (PHP's json_encode) or not. A URL token of base64 (Azure's ?code= often holds a /) comes
// back so in a JSON error that quotes the URL.
func appendEchoForms(forms []string, v string) []string {
	add := func(f string) {
		if f != "" && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	add(v)
	q := strconv.Quote(v)
	add(q[1 : len(q)-1])
	if b, err := json.Marshal(v); err == nil {
		j := string(b[1 : len(b)-1])
		add(j)
		add(strings.ReplaceAll(j, "/", `\/`))
		// Without the HTML escapes (Node, PHP), slashes escaped or not.
		plain := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(j)
		add(plain)
		add(strings.ReplaceAll(plain, "/", `\/`))
	}
	return forms
}

// Quote shortens s to about max bytes on one line, control characters
// escaped, for an error message.
func Quote(s string, max int) string {
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
