// Package caddymodule is the Caddy glue of idphooks: module registration,
// JSON config, Caddyfile parsing, provisioning and cleanup. Everything it
// wires lives in packages below it that know nothing of Caddy's config.
package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/oidc"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/keys"
	"github.com/idphooks/idphooks/sandbox"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler runs lifecycle hooks on the traffic of an identity provider it
// sits in front of. It must come before the reverse_proxy to the IdP.
type Handler struct {
	// Upstream is the IdP's issuer URL, from which idphooks itself fetches
	// the discovery document and signing keys (directly, not through
	// Caddy). Required.
	Upstream string `json:"upstream,omitempty"`

	// Issuer is the issuer clients see. Empty (the default) keeps the
	// IdP's issuer; set it when the IdP's issuer is not the public origin,
	// and idphooks rewrites discovery, every token it passes and the
	// RFC 9207 iss parameter together.
	Issuer string `json:"issuer,omitempty"`

	// Hooks are the JavaScript hooks, run in the order given.
	Hooks []HookConfig `json:"hooks,omitempty"`

	// Webhooks are the receivers events are POSTed to, signed the
	// Standard Webhooks way.
	Webhooks []WebhookConfig `json:"webhooks,omitempty"`

	// SharedSignals are the receivers the events with a CAEP or RISC
	// meaning are pushed to as Security Event Tokens (RFC 8417, RFC 8935
	// push), signed with idphooks' keys.
	SharedSignals []SharedSignalsConfig `json:"shared_signals,omitempty"`

	// QueuePath is the durable delivery queue's file (async hooks'
	// events, webhooks). Default: queue.db beside the state file, or
	// idphooks/queue.db in Caddy's data directory.
	QueuePath string `json:"queue_path,omitempty"`

	// Signing configures idphooks' own signing keys.
	Signing *SigningConfig `json:"signing,omitempty"`

	// UpstreamAlgorithms is the allow-list of algorithms accepted on
	// upstream tokens. Default: RS*, PS*, ES* and EdDSA; HMAC and none are
	// never accepted.
	UpstreamAlgorithms []string `json:"upstream_algorithms,omitempty"`

	// UnlockClaims are protected claims (iss, sub, aud, exp, scope, …) that
	// hooks may nevertheless change. Default: none.
	UnlockClaims []string `json:"unlock_claims,omitempty"`

	// JWKSPath is where idphooks serves its key set; discovery points
	// jwks_uri there. Default: /.well-known/idphooks/jwks.json.
	JWKSPath string `json:"jwks_path,omitempty"`

	// PublishUpstreamKeys adds the IdP's keys to the served key set, so
	// tokens idphooks did not touch still verify. Default: true. When
	// false, response types that put ID tokens in the front channel are
	// removed from discovery.
	PublishUpstreamKeys *bool `json:"publish_upstream_keys,omitempty"`

	// MaxBody caps the upstream responses and request bodies idphooks
	// reads, in bytes. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// Budget bounds all sync hooks of one event together. Default: 2s.
	Budget caddy.Duration `json:"budget,omitempty"`

	// StateRaw is where idphooks keeps its state (the token swap table,
	// the hooks' cache): a module in the idp_hooks.state namespace, chosen
	// by its "backend" key. Default: the embedded bolt backend.
	StateRaw json.RawMessage `json:"state,omitempty" caddy:"namespace=idp_hooks.state inline_key=backend"`

	// StatePath is short for {"backend": "bolt", "path": StatePath}: the
	// embedded database (bbolt) holding the token swap table. Default:
	// idphooks/state.db in Caddy's data directory.
	StatePath string `json:"state_path,omitempty"`

	// SAML turns the SAML interceptor on (see SAMLConfig).
	SAML *SAMLConfig `json:"saml,omitempty"`

	// Forms turns the forms interceptor on (see FormsConfig).
	Forms *FormsConfig `json:"forms,omitempty"`

	// Record keeps a sample of real events with what the hooks did, for
	// `caddy idp-hooks replay`. Default: off.
	Record *RecordConfig `json:"record,omitempty"`

	upstream   *oidc.Upstream
	dispatcher *events.Dispatcher
	// deliverer sends the queued events of async hooks and webhooks;
	// outbox is the dispatcher's way to it.
	deliverer *delivery.Deliverer
	queue     Queue
	outbox    *lateOutbox
	queueKey  string
	// ssfIssuer is the iss of Shared Signals' tokens.
	ssfIssuer *issuerSource
	// auditTimer records this config's changes once it settles.
	auditTimer *time.Timer
	auditDone  chan struct{}
	oidc       *oidc.Interceptor
	saml       *saml.Interceptor
	forms      *forms.Interceptor
	// interceptors are the ones configured, outermost first (chain).
	interceptors []interceptor
	samlIdP      *saml.IdP
	keys         *keys.Manager
	state        *State
	upKey        string
	recordKey    string
	logger       *zap.Logger
}

// HookConfig is one hook file and how to run it.
type HookConfig struct {
	// Path is the hook's JavaScript file.
	Path string `json:"path"`

	// Mode is sync or async; default: the event's own (see the catalog).
	Mode string `json:"mode,omitempty"`

	// Timeout bounds one run. Default: 1s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// OnError is what a failed sync run does: deny (the default) or
	// continue.
	OnError string `json:"on_error,omitempty"`

	// Applications limits the hook to these OIDC client_ids or SAML SP
	// entity ids. Default: all applications.
	Applications []string `json:"applications,omitempty"`

	// AllowHosts are hosts (or *.suffix patterns) and CIDRs the hook's
	// fetch may reach although they resolve to private addresses.
	AllowHosts []string `json:"allow_hosts,omitempty"`

	// Secrets are the values the hook reads as secrets.NAME; use
	// placeholders such as {env.CRM_TOKEN} or {file./run/secrets/crm}.
	Secrets map[string]string `json:"secrets,omitempty"`
}

// SigningConfig configures the keys idphooks signs rewritten tokens with.
type SigningConfig struct {
	// Algorithm of new keys: RS256 (default), RS384, RS512, PS256, PS384,
	// PS512, ES256, ES384, ES512 or EdDSA.
	Algorithm string `json:"algorithm,omitempty"`

	// RotationPeriod is how long one key signs. Default: 30 days.
	RotationPeriod caddy.Duration `json:"rotation_period,omitempty"`

	// PrePublish is how long a new key is published before it signs.
	// Default: 48h.
	PrePublish caddy.Duration `json:"pre_publish,omitempty"`

	// Retention is how long a retired key stays published. Default: 7 days.
	Retention caddy.Duration `json:"retention,omitempty"`

	// StorageKey names the key set in Caddy's storage, so instances can
	// keep separate sets. Default: idphooks/keys.
	StorageKey string `json:"storage_key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.idp_hooks",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, then wires the parts in the order they depend
// on each other: state, keys, hooks, the upstream, the interceptors.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if err := h.provisionState(ctx); err != nil {
		return err
	}
	if err := h.provisionKeys(ctx); err != nil {
		return err
	}
	if err := h.provisionHooks(ctx, h.state.Cache); err != nil {
		return err
	}
	if h.Upstream != "" {
		if err := h.provisionUpstream(); err != nil {
			return err
		}
		if h.ssfIssuer != nil {
			h.ssfIssuer.up.Store(h.upstream)
		}
		if err := h.provisionOIDC(oidcSwaps{h.state.Swaps}); err != nil {
			return err
		}
	}
	if h.SAML != nil {
		if err := h.provisionSAML(ctx); err != nil {
			return err
		}
	}
	if h.Forms != nil {
		if err := h.provisionForms(ctx); err != nil {
			return err
		}
	}
	h.interceptors = h.chain()
	h.warnUnraised()
	h.audit(ctx)
	h.checkUpstream(ctx)
	handlersMu.Lock()
	handlers[h] = true
	handlersMu.Unlock()
	return nil
}

// raised are the events the configured interceptors raise.
func (h *Handler) raised() []string {
	var ids []string
	if h.oidc != nil {
		ids = append(ids, h.oidc.Raises()...)
	}
	if h.saml != nil {
		ids = append(ids, h.saml.Raises()...)
	}
	if h.forms != nil {
		ids = append(ids, h.forms.Raises()...)
	}
	return ids
}

// warnUnraised warns of handlers no configured interceptor raises: they
// would never run, and nothing else would say so.
func (h *Handler) warnUnraised() {
	for _, eh := range h.dispatcher.Hooks() {
		for _, id := range eh.Unraised(h.raised()) {
			h.logger.Warn("hook handles an event no configured interceptor raises: it will not run",
				zap.String("hook", eh.Name), zap.String("event", id), zap.String("handler", events.HandlerName(id)),
				zap.Strings("raised", h.raised()))
		}
	}
}

// upstreamCheckTimeout bounds the discovery fetch at provision: a config
// load (and caddy validate) must not hang on an IdP that is down.
const upstreamCheckTimeout = 3 * time.Second

// checkUpstream fetches the IdP's discovery document and keys now, so an
// upstream that is down or wrong shows at start rather than as the first
// request's 502. It is a warning: the IdP may well start after Caddy, and
// until it answers idphooks refuses its traffic (fail closed).
func (h *Handler) checkUpstream(ctx caddy.Context) {
	c, cancel := context.WithTimeout(ctx, upstreamCheckTimeout)
	defer cancel()
	if h.upstream != nil {
		if err := h.upstream.Check(c); err != nil {
			h.logger.Warn("upstream identity provider not usable yet",
				zap.String("upstream", h.Upstream), zap.Error(err))
		}
	}
	if h.samlIdP != nil {
		if err := h.samlIdP.Check(c); err != nil {
			h.logger.Warn("upstream SAML metadata not usable yet; SAML messages are refused until it is",
				zap.String("idp_metadata", h.SAML.IdPMetadata), zap.Error(err))
		}
	}
}

// provisionState loads the state backend module (state_path is the bolt
// one) and opens it.
func (h *Handler) provisionState(ctx caddy.Context) error {
	var backend StateBackend = &BoltState{Path: h.StatePath}
	if h.StateRaw != nil {
		if h.StatePath != "" {
			return errors.New("idp_hooks: state and state_path both set; state_path is short for the bolt backend's path")
		}
		mod, err := ctx.LoadModule(h, "StateRaw")
		if err != nil {
			return fmt.Errorf("idp_hooks: loading the state backend: %w", err)
		}
		backend = mod.(StateBackend)
	}
	st, err := backend.OpenState(ctx)
	if err != nil {
		return err
	}
	h.state = st
	return nil
}

// provisionKeys loads or creates idphooks' signing keys in Caddy's storage
// and starts their rotation.
func (h *Handler) provisionKeys(ctx caddy.Context) error {
	sc := SigningConfig{}
	if h.Signing != nil {
		sc = *h.Signing
	}
	km, err := keys.New(ctx, ctx.Storage(), keys.Config{
		Algorithm:      sc.Algorithm,
		RotationPeriod: time.Duration(sc.RotationPeriod),
		PrePublish:     time.Duration(sc.PrePublish),
		Retention:      time.Duration(sc.Retention),
		StorageKey:     sc.StorageKey,
	}, h.logger.Named("keys"))
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	h.keys = km
	go km.Run(ctx)
	return nil
}

// provisionHooks compiles the hooks and builds the dispatcher that raises
// events on them.
func (h *Handler) provisionHooks(ctx caddy.Context, cache sandbox.Cache) error {
	metrics, err := sandbox.NewMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("hook metrics: %w", err)
	}
	engine, err := sandbox.New(sandbox.Options{Logger: h.logger.Named("hooks"), Cache: cache, Metrics: metrics})
	if err != nil {
		return err
	}
	evMetrics, err := events.NewMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("hook metrics: %w", err)
	}
	repl := caddy.NewReplacer()
	hooks := make([]*events.Hook, 0, len(h.Hooks))
	for _, hc := range h.Hooks {
		hook, err := compileHook(engine, hc, repl, h.logger)
		if err != nil {
			return err
		}
		// Its queued events are its own, whichever other handler shares
		// the queue with a hook of the same file name.
		hook.Receiver = "hook:" + hc.Path + "@" + h.auditName()
		hooks = append(hooks, hook)
	}
	wh, err := buildWebhooks(h.Webhooks, repl)
	if err != nil {
		return err
	}
	if err := h.buildSharedSignals(wh, repl); err != nil {
		return err
	}
	// Enrich webhooks take part in the flow like sync hooks, after them.
	hooks = append(hooks, wh.enrich...)
	opts := events.Options{
		Receivers: wh.receivers,
		Budget:    time.Duration(h.Budget),
		Logger:    h.logger.Named("events"),
		Metrics:   evMetrics,
		Traces:    traces,
	}
	if h.Record != nil {
		rec, err := h.openRecorder(ctx)
		if err != nil {
			return err
		}
		opts.Recorder = rec
	}
	if !needsQueue(hooks, h.Webhooks) && len(h.SharedSignals) == 0 {
		h.dispatcher = events.NewDispatcher(hooks, opts)
		return nil
	}
	// Async events are committed to the durable queue before the request
	// that raised them is answered, and delivered from it.
	q, err := h.openQueue()
	if err != nil {
		return err
	}
	h.outbox = &lateOutbox{}
	opts.Outbox = h.outbox
	h.dispatcher = events.NewDispatcher(hooks, opts)
	return h.startDelivery(ctx, q, wh.senders)
}

// provisionUpstream shares the upstream's document caches between every
// handler and config using the same IdP.
func (h *Handler) provisionUpstream() error {
	// The body cap is part of the key: a pooled upstream is shared by
	// every handler (and config) using it, so its settings never change.
	h.upKey = fmt.Sprintf("upstream:%s|%d", h.Upstream, h.MaxBody)
	up, _, err := upstreams.LoadOrNew(h.upKey, func() (caddy.Destructor, error) {
		return upstreamValue{oidc.NewUpstream(h.Upstream, h.MaxBody)}, nil
	})
	if err != nil {
		return err
	}
	h.upstream = up.(upstreamValue).Upstream
	// A reload may follow a change of the IdP (hostname, issuer): fetch
	// its discovery again, keeping the cached one should that fail.
	h.upstream.Invalidate()
	return nil
}

// provisionOIDC builds the OIDC interceptor.
func (h *Handler) provisionOIDC(swaps oidc.Swaps) error {
	publish := true
	if h.PublishUpstreamKeys != nil {
		publish = *h.PublishUpstreamKeys
	}
	ic, err := oidc.New(oidc.Config{
		Upstream:            h.upstream,
		Issuer:              h.Issuer,
		JWKSPath:            h.JWKSPath,
		PublishUpstreamKeys: publish,
		Algorithms:          h.UpstreamAlgorithms,
		UnlockedClaims:      h.UnlockClaims,
		MaxBody:             h.MaxBody,
		Dispatcher:          h.dispatcher,
		Signer:              h.keys,
		Swaps:               swaps,
		SharedSignals:       len(h.SharedSignals) > 0,
		Logger:              h.logger.Named("oidc"),
	})
	if err != nil {
		return err
	}
	h.oidc = ic
	return nil
}

// compileHook resolves the hook's secrets and builds it with events.Build,
// the code the hook workbench (caddy idp-hooks test) builds hooks with.
func compileHook(engine *sandbox.Engine, hc HookConfig, repl *caddy.Replacer, log *zap.Logger) (*events.Hook, error) {
	secrets := make(map[string]string, len(hc.Secrets))
	for name, v := range hc.Secrets {
		val, err := repl.ReplaceOrErr(v, true, true)
		if err != nil {
			return nil, fmt.Errorf("idp_hooks: hook %s: secret %s: %w", hc.Path, name, err)
		}
		secrets[name] = val
	}
	hook, err := events.Build(engine, hc.events(secrets, log.Named("hook")))
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: %w", err)
	}
	return hook, nil
}

// events is the hook's config as package events takes it.
func (hc HookConfig) events(secrets map[string]string, log *zap.Logger) events.HookConfig {
	return events.HookConfig{
		Path:         hc.Path,
		Mode:         hc.Mode,
		Timeout:      time.Duration(hc.Timeout),
		OnError:      hc.OnError,
		Applications: hc.Applications,
		AllowHosts:   hc.AllowHosts,
		Secrets:      secrets,
		// The sandbox adds the hook field to its lines itself.
		Logger: log,
	}
}

// Validate checks the configuration once provisioned.
func (h *Handler) Validate() error {
	if h.Upstream == "" && h.SAML == nil && h.Forms == nil {
		return errors.New("idp_hooks: upstream is required (or a saml or forms block without OIDC)")
	}
	if u, err := url.Parse(h.Upstream); h.Upstream != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("idp_hooks: upstream %q must be an absolute http(s) URL", h.Upstream)
	}
	if h.SAML != nil {
		if err := h.SAML.validate(); err != nil {
			return err
		}
	}
	if h.JWKSPath != "" && !strings.HasPrefix(h.JWKSPath, "/") {
		return fmt.Errorf("idp_hooks: jwks_path %q must start with /", h.JWKSPath)
	}
	for _, c := range h.UnlockClaims {
		if c == "iss" {
			// A hook must never make idphooks sign for another issuer;
			// the issuer option is the one way to change it.
			return errors.New("idp_hooks: unlock_claims: iss cannot be unlocked (use the issuer option)")
		}
	}
	for _, a := range h.UpstreamAlgorithms {
		if err := checkUpstreamAlg(a); err != nil {
			return fmt.Errorf("idp_hooks: upstream_algorithms: %v", err)
		}
	}
	if h.Issuer != "" {
		if u, err := url.Parse(h.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("idp_hooks: issuer %q must be an absolute URL", h.Issuer)
		}
	}
	for _, hc := range h.Hooks {
		if err := hc.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (hc HookConfig) validate() error {
	if err := hc.events(nil, nil).Validate(); err != nil {
		return fmt.Errorf("idp_hooks: %w", err)
	}
	if _, err := os.Stat(hc.Path); err != nil {
		return fmt.Errorf("idp_hooks: hook %s: %w", hc.Path, err)
	}
	return nil
}

// checkUpstreamAlg accepts only the asymmetric JWS algorithms: an HMAC
// "signature" can be made by anyone holding the client secret.
func checkUpstreamAlg(a string) error {
	if !slices.Contains(oidc.DefaultAlgorithms, a) {
		return fmt.Errorf("%s is not allowed (use one of %s; symmetric and unsigned algorithms are refused)",
			a, strings.Join(oidc.DefaultAlgorithms, " "))
	}
	return nil
}

// ServeHTTP hands the request to the interceptors, outermost first: SAML,
// so that it sees the IdP's pages as the others leave them (a login post
// answered with a SAML POST page); then forms; then OIDC. The outermost
// is called directly: with one interceptor nothing is allocated.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ics := h.interceptors
	if len(ics) == 0 {
		return next.ServeHTTP(w, r)
	}
	for k := len(ics) - 1; k > 0; k-- {
		next = then{ics[k], next}
	}
	return ics[0].ServeHTTP(w, r, next)
}

// interceptor is what every interceptor is to the handler.
type interceptor interface {
	ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error
}

// chain lists the configured interceptors, outermost first.
func (h *Handler) chain() []interceptor {
	var ics []interceptor
	if h.saml != nil {
		ics = append(ics, h.saml)
	}
	if h.forms != nil {
		ics = append(ics, h.forms)
	}
	if h.oidc != nil {
		ics = append(ics, h.oidc)
	}
	return ics
}

// then is an interceptor with the handler it passes requests on to.
type then struct {
	ic   interceptor
	next caddyhttp.Handler
}

func (t then) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	return t.ic.ServeHTTP(w, r, t.next)
}

// Cleanup lets async hooks finish (briefly) and releases pooled state.
func (h *Handler) Cleanup() error {
	h.stopAudit()
	h.stopDelivery()
	if h.dispatcher != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.dispatcher.Close(ctx); err != nil && h.logger != nil {
			h.logger.Warn("cleanup", zap.Error(err))
		}
	}
	handlersMu.Lock()
	delete(handlers, h)
	handlersMu.Unlock()
	if h.upKey != "" {
		_, _ = upstreams.Delete(h.upKey)
	}
	if h.recordKey != "" {
		_, _ = records.Delete(h.recordKey)
	}
	if h.state != nil && h.state.Release != nil {
		h.state.Release()
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
