package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/secevent"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/oidc"
)

// SharedSignalsConfig is one Shared Signals receiver: the events with a
// CAEP or RISC meaning pushed to it as Security Event Tokens (RFC 8417,
// RFC 8935 push), signed with idphooks' keys.
type SharedSignalsConfig struct {
	// URL is the receiver's push endpoint (https; http only for a host
	// listed in AllowHosts).
	URL string `json:"url"`
	// Events are the event ids pushed. Default: every event with a
	// Shared Signals meaning (after_logout, after_password_reset,
	// after_account_deletion).
	Events []string `json:"events,omitempty"`
	// Audience is the SETs' aud. Default: the URL's origin.
	Audience string `json:"audience,omitempty"`
	// Authorization is the Authorization header of every push, e.g.
	// "Bearer {env.SSF_TOKEN}" (placeholders replaced at provisioning).
	// Default: none.
	Authorization string `json:"authorization,omitempty"`
	// Subject is the format of the subject: iss_sub (default) or email
	// (when the event knows a verified address; else iss_sub).
	Subject string `json:"subject,omitempty"`
	// Applications limits the receiver to these client ids / SP entity
	// ids; empty means all.
	Applications []string `json:"applications,omitempty"`
	// AllowHosts are host names, *.suffix patterns and CIDRs: the only way
	// to reach a private or loopback host, and the only hosts plain http
	// is accepted for.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	// Timeout bounds one attempt. Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// RetrySchedule are the waits before each attempt; default about 8
	// attempts over a day.
	RetrySchedule []caddy.Duration `json:"retry_schedule,omitempty"`
}

// parseSharedSignals reads
//
//	shared_signals <push URL> {
//		events         <event...>
//		audience       <aud>
//		authorization  <header value>
//		subject        iss_sub|email
//		applications   <client_id or SP entity id...>
//		allow_hosts    <host, *.suffix or CIDR...>
//		timeout        <duration>
//		retry_schedule <duration...>
//	}
//
// The block may be left out: every event with a Shared Signals meaning,
// audience the URL's origin.
func parseSharedSignals(d *caddyfile.Dispenser) (SharedSignalsConfig, error) {
	var s SharedSignalsConfig
	if !d.NextArg() {
		return s, d.ArgErr()
	}
	s.URL = d.Val()
	if d.NextArg() {
		return s, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) == 0 {
			return s, d.ArgErr()
		}
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			if *dst != "" {
				return d.Errf("shared_signals %s: %s given twice", s.URL, opt)
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch opt {
		case "events":
			s.Events = append(s.Events, args...)
		case "audience":
			err = one(&s.Audience)
		case "authorization":
			// "Bearer {env.X}" is two tokens unless quoted: the header
			// value is what the line says.
			if s.Authorization != "" {
				err = d.Errf("shared_signals %s: authorization given twice", s.URL)
			}
			s.Authorization = strings.Join(args, " ")
		case "subject":
			if err = one(&s.Subject); err == nil {
				if cerr := secevent.CheckSubject(s.Subject); cerr != nil {
					err = d.Errf("shared_signals %s: %v", s.URL, cerr)
				}
			}
		case "applications":
			s.Applications = append(s.Applications, args...)
		case "allow_hosts":
			s.AllowHosts = append(s.AllowHosts, args...)
		case "timeout":
			var v string
			if err = one(&v); err == nil {
				dur, perr := caddy.ParseDuration(v)
				if perr != nil || dur <= 0 {
					return s, d.Errf("shared_signals %s: timeout: %q is not a positive duration", s.URL, v)
				}
				s.Timeout = caddy.Duration(dur)
			}
		case "retry_schedule":
			for _, a := range args {
				dur, perr := caddy.ParseDuration(a)
				if perr != nil || dur < 0 {
					return s, d.Errf("shared_signals %s: retry_schedule: %q is not a duration", s.URL, a)
				}
				s.RetrySchedule = append(s.RetrySchedule, caddy.Duration(dur))
			}
		default:
			err = d.Errf("shared_signals %s: unknown option %q (use events, audience, authorization, subject, applications, allow_hosts, timeout, retry_schedule)", s.URL, opt)
		}
		if err != nil {
			return s, err
		}
	}
	if err := secevent.CheckEvents(s.Events); err != nil {
		return s, d.Errf("shared_signals %s: %v", s.URL, err)
	}
	return s, nil
}

// defaultSSFTimeout bounds one push.
const defaultSSFTimeout = 10 * time.Second

// issuerSource is the SETs' iss: the configured issuer, else the IdP's
// from its discovery document. The upstream is set once provisioned
// (after the deliverer started, which may already be sending).
type issuerSource struct {
	fixed string
	up    atomic.Pointer[oidc.Upstream]
}

func (s *issuerSource) Issuer(ctx context.Context) (string, error) {
	if s.fixed != "" {
		return s.fixed, nil
	}
	up := s.up.Load()
	if up == nil {
		return "", errors.New("the upstream is not provisioned yet")
	}
	d, err := up.Discovery(ctx)
	if err != nil {
		return "", err
	}
	return d.Issuer, nil
}

// buildSharedSignals checks and builds the Shared Signals receivers into
// b, their names (by URL, like webhooks) unique among b's; repl replaces
// the placeholders of their authorization values.
func (h *Handler) buildSharedSignals(b *builtWebhooks, repl *caddy.Replacer) error {
	if len(h.SharedSignals) == 0 {
		return nil
	}
	if h.Upstream == "" {
		// Only the OIDC interceptor serves idphooks' JWKS, and receivers
		// verify SETs with it.
		return errors.New("idp_hooks: shared_signals needs an OIDC upstream: receivers verify the tokens with the keys idphooks publishes at its JWKS")
	}
	h.ssfIssuer = &issuerSource{fixed: strings.TrimRight(h.Issuer, "/")}
	for _, s := range h.SharedSignals {
		name := receiverName(s.URL)
		if b.names[name]++; b.names[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, b.names[name])
		}
		fail := func(err error) error { return fmt.Errorf("idp_hooks: shared_signals %s: %w", name, err) }
		target, urlSecrets, err := receiverURL(s.URL, repl)
		if err != nil {
			return fail(err)
		}
		if err := secevent.CheckEvents(s.Events); err != nil {
			return fail(err)
		}
		evs := s.Events
		if len(evs) == 0 {
			evs = secevent.Events()
		}
		cfg := secevent.Config{
			Name: name, URL: target, URLSecrets: urlSecrets, AllowHosts: s.AllowHosts, Audience: s.Audience, Subject: s.Subject,
			Issuer: h.ssfIssuer.Issuer, Signer: h.keys, Timeout: time.Duration(s.Timeout),
		}
		if s.Authorization != "" {
			v, err := repl.ReplaceOrErr(s.Authorization, true, true)
			if err != nil || strings.TrimSpace(v) == "" {
				return fail(fmt.Errorf("authorization: %s is not set", s.Authorization))
			}
			cfg.Authorization = v
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = defaultSSFTimeout
		}
		sender, err := secevent.NewSender(cfg)
		if err != nil {
			return fmt.Errorf("idp_hooks: %w", err) // it names the receiver
		}
		r := delivery.Receiver{Sender: sender, AttemptTimeout: cfg.Timeout}
		for _, d := range s.RetrySchedule {
			r.Schedule = append(r.Schedule, time.Duration(d))
		}
		b.senders[name] = r
		b.receivers = append(b.receivers, events.Receiver{Name: name, Events: evs, Applications: s.Applications})
	}
	return nil
}
