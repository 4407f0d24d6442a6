package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/idphooks/idphooks/delivery"
)

// Sender delivers notify webhooks: one signed POST per attempt of a
// queued message. It is safe for concurrent use; rate and concurrency
// per endpoint are the worker pool's (see Limiter for a rate).
type Sender struct {
	ep *endpoint
}

var _ delivery.Sender = (*Sender)(nil)

// NewSender checks c (URL, allow_hosts, secrets) and builds its client.
func NewSender(c Config) (*Sender, error) {
	ep, err := newEndpoint(c)
	if err != nil {
		return nil, err
	}
	return &Sender{ep: ep}, nil
}

// Name is the endpoint's name.
func (s *Sender) Name() string { return s.ep.name }

// PublicKeys are the whpk_ keys receivers verify v1a signatures with.
func (s *Sender) PublicKeys() []string { return s.ep.signer.PublicKeys() }

// Send POSTs m.Payload with webhook-id m.ID, signed with the time of this
// attempt. A 2xx is a delivery, a 410 is delivery.ErrGone, anything else
// (3xx included: redirects are not followed, a timeout, a refused or
// failed connection) a failure with the status and the start of the
// answer; Retry-After is read from any failed answer.
func (s *Sender) Send(ctx context.Context, m delivery.Message) delivery.Result {
	if err := refuseSecret(m.Event); err != nil {
		return delivery.Result{Err: fmt.Errorf("webhook %s: %w", s.ep.name, err)}
	}
	if err := CheckID(m.ID); err != nil {
		return delivery.Result{Err: fmt.Errorf("webhook %s: %w", s.ep.name, err)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.ep.timeout)
	defer cancel()
	a, err := s.ep.post(ctx, m.ID, m.Payload)
	if err != nil {
		return delivery.Result{Err: err}
	}
	res := delivery.Result{Status: a.Status, RetryAfter: a.RetryAfter}
	switch {
	case a.Status >= 200 && a.Status <= 299:
	case a.Status == http.StatusGone:
		res.Err = fmt.Errorf("%w: %v", delivery.ErrGone, s.ep.statusError(a))
	default:
		res.Err = s.ep.statusError(a)
	}
	return res
}
