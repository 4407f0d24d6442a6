package webhook

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/idphooks/idphooks/delivery/outbound"
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
	DefaultMaxResponse = outbound.DefaultMaxResponse
)

// Config is one webhook endpoint, as the Caddy module hands it over.
type Config struct {
	// Name identifies the endpoint in logs and errors; default its URL
	// without query or credentials.
	Name string
	// URL receives the POSTs: https://, or http:// for a host listed in
	// AllowHosts.
	URL string
	// URLSecrets are values in URL (placeholders resolved: a token in
	// its query or path) that no log line or error may show.
	URLSecrets []string
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

// endpoint is what Sender and Enricher share: the receiver's URL and
// guarded client (package outbound), the signer.
type endpoint struct {
	*outbound.Endpoint
	name    string
	signer  *Signer
	timeout time.Duration
	max     int64
}

func newEndpoint(c Config) (*endpoint, error) {
	out, err := outbound.New(outbound.Config{
		Kind: "webhook", Name: c.Name, URL: c.URL, AllowHosts: c.AllowHosts, MaxResponse: c.MaxResponse,
		Redact: append(append(append([]string(nil), c.Secrets...), c.SigningKeys...), c.URLSecrets...), RootCAs: c.RootCAs, Resolver: c.Resolver,
	})
	if err != nil {
		return nil, err
	}
	name := out.Name()
	signer, err := NewSigner(c.Secrets, c.SigningKeys)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", name, err)
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("webhook %s: negative timeout", name)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return &endpoint{Endpoint: out, name: name, signer: signer, timeout: c.Timeout, max: out.MaxResponse()}, nil
}

// answer is what one POST came back with.
type answer = outbound.Answer

// errTimeout is the failure of an attempt that outlived its deadline.
var errTimeout = outbound.ErrTimeout

// post sends body, signed with id and the time of this attempt, and reads
// the answer up to the cap, all within ctx.
func (e *endpoint) post(ctx context.Context, id string, body []byte) (*answer, error) {
	h := make(http.Header, 4)
	h.Set("Content-Type", "application/json")
	e.signer.Sign(h, id, time.Now(), body)
	return e.Post(ctx, h, body)
}

// statusError is the failure of a non-2xx answer, quoting its start.
func (e *endpoint) statusError(a *answer) error { return e.StatusError(a, "") }

// redact hides the endpoint's own secrets in text that quotes a receiver.
func (e *endpoint) redact(text string) string { return e.Redact(text) }
