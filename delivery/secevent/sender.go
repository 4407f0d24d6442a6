package secevent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/outbound"
	"github.com/idphooks/idphooks/egress"
	"github.com/idphooks/idphooks/events"
)

// DefaultTimeout bounds one attempt.
const DefaultTimeout = 10 * time.Second

// MediaType is a SET's media type (RFC 8417 §7.2), the Content-Type of
// a push (RFC 8935 §2).
const MediaType = "application/secevent+jwt"

// typ is the JOSE header typ of a SET (RFC 8417 §2.3).
const typ = "secevent+jwt"

// Signer signs SETs: idphooks' own keys (keys.Manager), the ones whose
// public half idphooks publishes at its JWKS.
type Signer interface {
	// SignJWT signs claims with the active key under JOSE typ, and says
	// with which algorithm.
	SignJWT(claims map[string]any, typ string) (token, alg string, err error)
}

// Config is one push receiver, as the Caddy module hands it over.
type Config struct {
	// Name identifies the receiver in logs and errors; default its URL
	// without query or credentials.
	Name string
	// URL is the receiver's push endpoint: https://, or http:// for a
	// host listed in AllowHosts.
	URL string
	// URLSecrets are values in URL (placeholders resolved: a token in
	// its query or path) that no log line or error may show.
	URLSecrets []string
	// AllowHosts has the meaning it has for webhooks (see package
	// outbound).
	AllowHosts []string
	// Audience is the SETs' aud; default the URL's origin.
	Audience string
	// Authorization, when set, is sent as the Authorization header of
	// every push (RFC 8935 §2: receivers may authenticate transmitters
	// so). Never logged; redacted from errors.
	Authorization string
	// Subject is SubjectIssSub (default) or SubjectEmail.
	Subject string
	// Issuer returns the SETs' iss: the issuer clients see. An error
	// fails the attempt (retried), e.g. while the IdP's discovery is
	// unavailable.
	Issuer func(ctx context.Context) (string, error)
	// Signer signs the SETs.
	Signer Signer
	// Timeout bounds one attempt; default DefaultTimeout.
	Timeout time.Duration
	// Now is the clock of iat; default time.Now.
	Now func() time.Time
	// RootCAs and Resolver are as for webhooks: tests hand their own.
	RootCAs  *x509.CertPool
	Resolver egress.Resolver
}

// Sender pushes SETs to one receiver, one POST per attempt of a queued
// message. It is safe for concurrent use.
type Sender struct {
	ep            *outbound.Endpoint
	audience      string
	authorization string
	subject       string
	issuer        func(context.Context) (string, error)
	signer        Signer
	timeout       time.Duration
	now           func() time.Time
}

var _ delivery.Sender = (*Sender)(nil)

// NewSender checks c and builds its client.
func NewSender(c Config) (*Sender, error) {
	ep, err := outbound.New(outbound.Config{
		Kind: "shared_signals", Name: c.Name, URL: c.URL, AllowHosts: c.AllowHosts,
		Redact: append([]string{c.Authorization, bareCredentials(c.Authorization)}, c.URLSecrets...), RootCAs: c.RootCAs, Resolver: c.Resolver,
	})
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) (*Sender, error) { return nil, ep.Errorf(format, args...) }
	if err := CheckSubject(c.Subject); err != nil {
		return fail("%v", err)
	}
	if c.Issuer == nil || c.Signer == nil {
		return fail("an issuer and a signer are required")
	}
	if strings.ContainsAny(c.Authorization, "\r\n") {
		return fail("the authorization value holds a line break")
	}
	if c.Timeout < 0 {
		return fail("negative timeout")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Audience == "" {
		c.Audience = outbound.Origin(ep.URL())
	}
	if c.Subject == "" {
		c.Subject = SubjectIssSub
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Sender{ep: ep, audience: c.Audience, authorization: c.Authorization, subject: c.Subject,
		issuer: c.Issuer, signer: c.Signer, timeout: c.Timeout, now: c.Now}, nil
}

// bareCredentials is an Authorization value without its scheme ("Bearer
// x" → "x"), which a receiver's error may quote on its own.
func bareCredentials(v string) string {
	if _, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
		return strings.TrimSpace(cred)
	}
	return ""
}

// Name is the receiver's name.
func (s *Sender) Name() string { return s.ep.Name() }

// Audience is the SETs' aud.
func (s *Sender) Audience() string { return s.audience }

// Token is the SET of a queued message as this attempt sends it, signed.
// A message that can never become one (not an event envelope, no user,
// an event with no Shared Signals meaning) is an error wrapping
// delivery.ErrRejected.
func (s *Sender) Token(ctx context.Context, m delivery.Message) (string, error) {
	if spec, ok := events.Lookup(m.Event); ok && spec.Secret {
		return "", fmt.Errorf("%w: event %s carries a password and is never sent", delivery.ErrRejected, m.Event)
	}
	iss, err := s.issuer(ctx)
	if err != nil {
		return "", fmt.Errorf("the issuer is not known yet: %w", err)
	}
	claims, err := s.claims(m.ID, m.Event, m.Payload, iss, s.now())
	if err != nil {
		// Another attempt would make the same message of it.
		return "", fmt.Errorf("%w: %w", delivery.ErrRejected, err)
	}
	tok, alg, err := s.signer.SignJWT(claims, typ)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	if alg == "" || strings.HasPrefix(alg, "HS") || strings.EqualFold(alg, "none") {
		// A receiver verifies with the published public keys; a shared
		// secret would let anyone who holds it forge signals.
		return "", fmt.Errorf("signing: %q is not an asymmetric algorithm", alg)
	}
	return tok, nil
}

// Send makes one RFC 8935 push of m's SET. 202 Accepted is a delivery; a
// 400 (the receiver found the SET invalid, with an RFC 8935 error code)
// is delivery.ErrRejected: the same SET would be refused again, so it is
// a dead letter at once; a 410 is delivery.ErrGone; anything else (5xx,
// 401 and 403, another 2xx, a 3xx: redirects are not followed, a
// timeout, a refused connection) a failed attempt, retried on the
// schedule. A message that cannot become a SET (no user, an event with
// no meaning) is rejected without a POST.
func (s *Sender) Send(ctx context.Context, m delivery.Message) delivery.Result {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tok, err := s.Token(ctx, m)
	if err != nil {
		// A message that cannot become a SET is rejected (Token says
		// so); an issuer or a key not at hand is retried.
		return delivery.Result{Err: s.ep.Errorf("%w", err)}
	}
	h := make(http.Header, 3)
	h.Set("Content-Type", MediaType)
	h.Set("Accept", "application/json")
	if s.authorization != "" {
		h.Set("Authorization", s.authorization)
	}
	a, err := s.ep.Post(ctx, h, []byte(tok))
	if err != nil {
		return delivery.Result{Err: err}
	}
	res := delivery.Result{Status: a.Status, RetryAfter: a.RetryAfter}
	switch {
	case a.Status == http.StatusAccepted:
	case a.Status == http.StatusBadRequest:
		res.Err = fmt.Errorf("%w: %v", delivery.ErrRejected, s.rejection(a))
	case a.Status == http.StatusGone:
		res.Err = fmt.Errorf("%w: %v", delivery.ErrGone, s.ep.StatusError(a, ""))
	case a.Status >= 200 && a.Status <= 299:
		res.Err = s.ep.StatusError(a, "(RFC 8935 receivers acknowledge a SET with 202 Accepted)")
	default:
		res.Err = s.ep.StatusError(a, "")
	}
	return res
}

// rejection is the failure of a 400: the RFC 8935 §2.4 error code and
// description when the answer has them.
func (s *Sender) rejection(a *outbound.Answer) error {
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if json.Unmarshal(a.Body, &e) != nil || e.Err == "" {
		return s.ep.StatusError(a, "")
	}
	msg := "answered 400: " + s.ep.Quote(e.Err, 64)
	if e.Description != "" {
		msg += ": " + s.ep.Quote(e.Description, 200)
	}
	return s.ep.Errorf("%s", msg)
}
