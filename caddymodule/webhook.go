package caddymodule

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/webhook"
	"github.com/idphooks/idphooks/events"
)

// WebhookConfig is one webhook: lifecycle events POSTed to a receiver,
// signed the Standard Webhooks way.
type WebhookConfig struct {
	// URL is where events are POSTed (https; http only for a host listed
	// in AllowHosts).
	URL string `json:"url"`
	// Events are the event ids the webhook subscribes to.
	Events []string `json:"events"`
	// Applications limits the webhook to these client ids / SP entity
	// ids; empty means all.
	Applications []string `json:"applications,omitempty"`
	// Secrets are whsec_ secrets, each signing every request (several
	// while a secret rotates). Placeholders ({env.X}, {file.X}) are
	// replaced at provisioning.
	Secrets []string `json:"secrets,omitempty"`
	// SigningKey is an Ed25519 private key (whsk_) adding a v1a
	// signature.
	SigningKey string `json:"signing_key,omitempty"`
	// Mode is notify (default: told after the fact, through the durable
	// queue) or enrich (the flow waits for the answer).
	Mode string `json:"mode,omitempty"`
	// AllowHosts are host names, *.suffix patterns and CIDRs: the only way
	// to reach a private or loopback host, and the only hosts plain http
	// is accepted for.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	// Timeout bounds one attempt (notify) or the wait for the answer
	// (enrich). Default 10s for notify, 2s for enrich.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// OnError is an enrich webhook's policy when it fails: deny
	// (default) or continue.
	OnError string `json:"on_error,omitempty"`
	// RetrySchedule are the waits before each retry of a notify delivery;
	// default about 8 attempts over a day.
	RetrySchedule []caddy.Duration `json:"retry_schedule,omitempty"`
	// MaxConcurrency bounds the deliveries in flight to this receiver.
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// Rate bounds the deliveries per second to this receiver; 0 is no
	// bound.
	Rate float64 `json:"rate,omitempty"`
}

const (
	webhookNotify = "notify"
	webhookEnrich = "enrich"
)

// parseWebhook reads
//
//	webhook <url> {
//		events          <event...>
//		applications    <client_id or SP entity id...>
//		secret          <whsec_…>             # repeat while rotating
//		signing_key     <whsk_…>
//		mode            notify|enrich
//		allow_hosts     <host, *.suffix or CIDR...>
//		timeout         <duration>
//		on_error        deny|continue
//		retry_schedule  <duration...>
//		max_concurrency <n>
//		rate            <n>/s
//	}
func parseWebhook(d *caddyfile.Dispenser) (WebhookConfig, error) {
	var w WebhookConfig
	if !d.NextArg() {
		return w, d.ArgErr()
	}
	w.URL = d.Val()
	if d.NextArg() {
		return w, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) == 0 {
			return w, d.ArgErr()
		}
		one := func() (string, error) {
			if len(args) != 1 {
				return "", d.ArgErr()
			}
			return args[0], nil
		}
		var err error
		switch opt {
		case "events":
			w.Events = append(w.Events, args...)
		case "applications":
			w.Applications = append(w.Applications, args...)
		case "secret":
			var s string
			if s, err = one(); err == nil {
				w.Secrets = append(w.Secrets, s)
			}
		case "signing_key":
			w.SigningKey, err = one()
		case "mode":
			if w.Mode, err = one(); err == nil && w.Mode != webhookNotify && w.Mode != webhookEnrich {
				err = d.Errf("webhook %s: mode must be notify or enrich, not %q", w.URL, w.Mode)
			}
		case "allow_hosts":
			w.AllowHosts = append(w.AllowHosts, args...)
		case "timeout":
			var s string
			if s, err = one(); err == nil {
				var dur time.Duration
				if dur, err = caddy.ParseDuration(s); err == nil {
					w.Timeout = caddy.Duration(dur)
				}
			}
		case "on_error":
			if w.OnError, err = one(); err == nil && w.OnError != string(events.Deny) && w.OnError != string(events.Continue) {
				err = d.Errf("webhook %s: on_error must be deny or continue, not %q", w.URL, w.OnError)
			}
		case "retry_schedule":
			for _, a := range args {
				dur, perr := caddy.ParseDuration(a)
				if perr != nil || dur < 0 {
					return w, d.Errf("webhook %s: retry_schedule: %q is not a duration", w.URL, a)
				}
				w.RetrySchedule = append(w.RetrySchedule, caddy.Duration(dur))
			}
		case "max_concurrency":
			var s string
			if s, err = one(); err == nil {
				if w.MaxConcurrency, err = strconv.Atoi(s); err != nil || w.MaxConcurrency < 1 {
					err = d.Errf("webhook %s: max_concurrency must be a positive number, not %q", w.URL, s)
				}
			}
		case "rate":
			var s string
			if s, err = one(); err == nil {
				w.Rate, err = parseRate(s)
				if err != nil {
					err = d.Errf("webhook %s: %v", w.URL, err)
				}
			}
		default:
			err = d.Errf("webhook %s: unknown option %q (use events, applications, secret, signing_key, mode, allow_hosts, timeout, on_error, retry_schedule, max_concurrency, rate)", w.URL, opt)
		}
		if err != nil {
			return w, err
		}
	}
	if len(w.Events) == 0 {
		return w, d.Errf("webhook %s: events is required (the event ids it subscribes to)", w.URL)
	}
	return w, nil
}

// parseRate reads "<n>/s", "<n>/m" or "<n>/h" as events per second.
func parseRate(s string) (float64, error) {
	n, unit, ok := strings.Cut(s, "/")
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
	v, err := strconv.ParseFloat(n, 64)
	if !ok || per == 0 || err != nil || v <= 0 {
		return 0, fmt.Errorf("rate must be like 50/s, 100/m or 1000/h, not %q", s)
	}
	return v / per, nil
}

// Defaults of a webhook's timeout by mode.
const (
	defaultNotifyTimeout = 10 * time.Second
	defaultEnrichTimeout = 2 * time.Second
)

// builtWebhooks are the configured webhooks as the dispatcher and the
// deliverer take them: enrich webhooks are sync hooks, notify ones
// receivers with a sender each.
type builtWebhooks struct {
	enrich    []*events.Hook
	receivers []events.Receiver
	senders   map[string]delivery.Receiver
	// names counts the receiver names given, so that two receivers of
	// one URL (a webhook and a shared_signals one, say) get two names.
	names map[string]int
}

// receiverName is how a receiver's URL is shown (logs, metrics, the admin
// API, the audit) and its queue is named: as configured, placeholders
// unresolved (a token in the query, as Azure Functions' ?code= is, shows
// as {env.…}), never a password.
func receiverName(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return raw
}

// receiverURL resolves the placeholders of a receiver's URL, and returns
// the values they stood for, which no log line or error may show.
func receiverURL(raw string, repl *caddy.Replacer) (string, []string, error) {
	if !strings.Contains(raw, "{") {
		return raw, nil, nil
	}
	var secrets []string
	for rest := raw; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		ph := rest[i : i+j+1]
		v, err := repl.ReplaceOrErr(ph, true, true)
		if err != nil || v == "" {
			return "", nil, fmt.Errorf("the URL's %s is not set", ph)
		}
		secrets = append(secrets, v, url.QueryEscape(v), url.PathEscape(v))
		rest = rest[i+j+1:]
	}
	resolved, err := repl.ReplaceOrErr(raw, true, true)
	if err != nil {
		return "", nil, fmt.Errorf("the URL: %w", err)
	}
	return resolved, secrets, nil
}

// buildWebhooks checks and builds the webhooks; repl replaces the
// placeholders of their URLs and secrets.
func buildWebhooks(ws []WebhookConfig, repl *caddy.Replacer) (*builtWebhooks, error) {
	b := &builtWebhooks{senders: map[string]delivery.Receiver{}, names: map[string]int{}}
	seen := b.names
	for _, w := range ws {
		name := receiverName(w.URL)
		if seen[name]++; seen[name] > 1 {
			name = fmt.Sprintf("%s#%d", name, seen[name])
		}
		fail := func(err error) (*builtWebhooks, error) {
			return nil, fmt.Errorf("idp_hooks: webhook %s: %w", name, err)
		}
		target, urlSecrets, err := receiverURL(w.URL, repl)
		if err != nil {
			return fail(err)
		}
		if err := webhook.CheckEvents(w.Events); err != nil {
			return fail(err)
		}
		cfg := webhook.Config{Name: name, URL: target, URLSecrets: urlSecrets, AllowHosts: w.AllowHosts, Timeout: time.Duration(w.Timeout)}
		for k, s := range w.Secrets {
			v, err := repl.ReplaceOrErr(s, true, true)
			if err != nil || v == "" {
				return fail(fmt.Errorf("secret %d: %s is not set", k+1, s))
			}
			cfg.Secrets = append(cfg.Secrets, v)
		}
		if w.SigningKey != "" {
			v, err := repl.ReplaceOrErr(w.SigningKey, true, true)
			if err != nil || v == "" {
				return fail(fmt.Errorf("signing_key: %s is not set", w.SigningKey))
			}
			cfg.SigningKeys = []string{v}
		}
		if len(cfg.Secrets) == 0 && len(cfg.SigningKeys) == 0 {
			return fail(fmt.Errorf("a secret (whsec_…) or a signing_key is required: receivers verify every request"))
		}
		switch w.Mode {
		case "", webhookNotify:
			if w.OnError != "" {
				return fail(fmt.Errorf("on_error is for enrich webhooks: a notify delivery is retried, never denies"))
			}
			if cfg.Timeout == 0 {
				cfg.Timeout = defaultNotifyTimeout
			}
			s, err := webhook.NewSender(cfg)
			if err != nil {
				return fail(err)
			}
			var sender delivery.Sender = s
			if w.Rate > 0 {
				sender = webhook.Limited(s, webhook.NewLimiter(w.Rate, max(1, int(w.Rate))))
			}
			r := delivery.Receiver{Sender: sender, Concurrency: w.MaxConcurrency, AttemptTimeout: cfg.Timeout}
			for _, d := range w.RetrySchedule {
				r.Schedule = append(r.Schedule, time.Duration(d))
			}
			b.senders[name] = r
			b.receivers = append(b.receivers, events.Receiver{Name: name, Events: w.Events, Applications: w.Applications})
		case webhookEnrich:
			if len(w.RetrySchedule) > 0 || w.MaxConcurrency > 0 || w.Rate > 0 {
				return fail(fmt.Errorf("retry_schedule, max_concurrency and rate are for notify webhooks: an enrich call is made once, while the flow waits"))
			}
			for _, id := range w.Events {
				if spec, _ := events.Lookup(id); spec.Mode != events.Sync {
					return fail(fmt.Errorf("mode enrich: %s is an async event, nothing waits for it (use mode notify)", id))
				}
			}
			e, err := webhook.NewEnricher(cfg, w.Events)
			if err != nil {
				return fail(err)
			}
			timeout := time.Duration(w.Timeout)
			if timeout == 0 {
				timeout = defaultEnrichTimeout
			}
			b.enrich = append(b.enrich, &events.Hook{Name: "webhook " + name, Runner: e, Mode: events.Sync,
				Timeout: timeout, OnError: events.Policy(w.OnError), Applications: w.Applications})
		}
	}
	return b, nil
}
