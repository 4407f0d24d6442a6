package caddymodule

import (
	"math"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("idp_hooks", parseCaddyfile)
	// Hooks must see the IdP's responses, so idp_hooks wraps reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("idp_hooks", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	idp_hooks [<upstream>] {
//		upstream            <issuer URL of the IdP>
//		issuer              <public issuer URL>
//		jwks_path           <path>
//		upstream_keys       on|off
//		upstream_algorithms <alg...>
//		unlock_claims       <claim...>
//		max_body            <size>
//		budget              <duration>
//		state               <path to the embedded database> {
//			max_entries <n>|off
//		}
//		state               <backend> [<args>] { … }
//		signing {
//			algorithm       RS256|RS384|RS512|PS256|PS384|PS512|ES256|ES384|ES512|EdDSA
//			rotation_period <duration>
//			pre_publish     <duration>
//			retention       <duration>
//			storage_key     <key>
//		}
//		record              [<path>] {
//			sample   <fraction>
//			max_size <size>
//			keep     <n>
//			events   <event...>
//		}
//		saml { … }          (see parseSAML)
//		queue               <path to the delivery queue>
//		webhook <url> { … } (see parseWebhook)
//		shared_signals <push URL> { … } (see parseSharedSignals)
//		hook <file.js> {
//			mode         sync|async
//			timeout      <duration>
//			on_error     deny|continue
//			applications <client_id or SP entity id...>
//			allow_hosts  <host, *.suffix or CIDR...>
//			secret       <NAME> <value>
//		}
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	inline := d.NextArg()
	if inline {
		h.Upstream = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "upstream":
			if inline {
				return d.Errf("upstream given twice: on the directive line and in the block")
			}
			if err := oneArg(d, &h.Upstream); err != nil {
				return err
			}
		case "issuer":
			if err := oneArg(d, &h.Issuer); err != nil {
				return err
			}
		case "jwks_path":
			if err := oneArg(d, &h.JWKSPath); err != nil {
				return err
			}
			if !strings.HasPrefix(h.JWKSPath, "/") {
				return d.Errf("jwks_path must start with /")
			}
		case "state":
			if err := h.parseState(d); err != nil {
				return err
			}
		case "upstream_keys":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			b, err := onOff(d, v)
			if err != nil {
				return err
			}
			h.PublishUpstreamKeys = &b
		case "upstream_algorithms":
			h.UpstreamAlgorithms = d.RemainingArgs()
			if len(h.UpstreamAlgorithms) == 0 {
				return d.ArgErr()
			}
			for _, a := range h.UpstreamAlgorithms {
				if err := checkUpstreamAlg(a); err != nil {
					return d.Errf("upstream_algorithms: %v", err)
				}
			}
		case "unlock_claims":
			h.UnlockClaims = d.RemainingArgs()
			if len(h.UnlockClaims) == 0 {
				return d.ArgErr()
			}
		case "max_body":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > math.MaxInt64 {
				return d.Errf("max_body: invalid size %q", v)
			}
			h.MaxBody = int64(n)
		case "budget":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.Budget = dur
		case "signing":
			if d.NextArg() {
				return d.ArgErr()
			}
			if err := h.parseSigning(d); err != nil {
				return err
			}
		case "record":
			if err := h.parseRecord(d); err != nil {
				return err
			}
		case "saml":
			if err := h.parseSAML(d); err != nil {
				return err
			}
		case "forms":
			if err := h.parseForms(d); err != nil {
				return err
			}
		case "hook":
			hc := HookConfig{}
			if !d.NextArg() {
				return d.ArgErr()
			}
			hc.Path = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
			if err := hc.parse(d); err != nil {
				return err
			}
			h.Hooks = append(h.Hooks, hc)
		case "queue":
			if err := oneArg(d, &h.QueuePath); err != nil {
				return err
			}
		case "webhook":
			w, err := parseWebhook(d)
			if err != nil {
				return err
			}
			h.Webhooks = append(h.Webhooks, w)
		case "shared_signals":
			s, err := parseSharedSignals(d)
			if err != nil {
				return err
			}
			h.SharedSignals = append(h.SharedSignals, s)
		default:
			return d.Errf("unrecognized idp_hooks option %q", d.Val())
		}
	}
	return nil
}

// parseState reads `state <path>` (the bolt backend's file), `state <path>
// { … }` (the same with options) or `state <backend> [args] { … }`, a module
// of the idp_hooks.state namespace, as reverse_proxy reads its transports.
func (h *Handler) parseState(d *caddyfile.Dispenser) error {
	if h.StateRaw != nil || h.StatePath != "" {
		return d.Err("state given twice")
	}
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if _, err := caddy.GetModule("idp_hooks.state." + name); err == nil {
		unm, err := caddyfile.UnmarshalModule(d, "idp_hooks.state."+name)
		if err != nil {
			return err
		}
		h.StateRaw = caddyconfig.JSONModuleObject(unm, "backend", name, nil)
		return nil
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	b := &BoltState{Path: name}
	if err := b.unmarshalBlock(d); err != nil {
		return err
	}
	if b.MaxEntries == 0 {
		h.StatePath = name
		return nil
	}
	h.StateRaw = caddyconfig.JSONModuleObject(b, "backend", "bolt", nil)
	return nil
}

func (h *Handler) parseSigning(d *caddyfile.Dispenser) error {
	if h.Signing == nil {
		h.Signing = new(SigningConfig)
	}
	s := h.Signing
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "algorithm":
			err = oneArg(d, &s.Algorithm)
			if err == nil && !validSigningAlg(s.Algorithm) {
				err = d.Errf("signing algorithm %q is not supported", s.Algorithm)
			}
		case "rotation_period":
			s.RotationPeriod, err = durationArg(d)
		case "pre_publish":
			s.PrePublish, err = durationArg(d)
		case "retention":
			s.Retention, err = durationArg(d)
		case "storage_key":
			err = oneArg(d, &s.StorageKey)
		default:
			err = d.Errf("unrecognized signing option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (hc *HookConfig) parse(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "mode":
			err = oneArg(d, &hc.Mode)
			if err == nil && hc.Mode != "sync" && hc.Mode != "async" {
				err = d.Errf("hook mode must be sync or async, not %q", hc.Mode)
			}
		case "timeout":
			hc.Timeout, err = durationArg(d)
		case "on_error":
			err = oneArg(d, &hc.OnError)
			if err == nil && hc.OnError != "deny" && hc.OnError != "continue" {
				err = d.Errf("on_error must be deny or continue, not %q", hc.OnError)
			}
		case "applications":
			err = appendArgs(d, &hc.Applications)
		case "allow_hosts":
			err = appendArgs(d, &hc.AllowHosts)
		case "secret":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			if hc.Secrets == nil {
				hc.Secrets = map[string]string{}
			}
			if _, dup := hc.Secrets[args[0]]; dup {
				return d.Errf("secret %s declared twice", args[0])
			}
			hc.Secrets[args[0]] = args[1]
		default:
			err = d.Errf("unrecognized hook option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// appendArgs adds the remaining arguments of a line, which must not be empty.
func appendArgs(d *caddyfile.Dispenser, dst *[]string) error {
	args := d.RemainingArgs()
	if len(args) == 0 {
		return d.ArgErr()
	}
	*dst = append(*dst, args...)
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// flagArg sets a directive that takes no argument (php, trim, decrypt).
func flagArg(d *caddyfile.Dispenser, dst *bool) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var v string
	if err := oneArg(d, &v); err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return 0, d.Errf("invalid duration %q: %v", v, err)
	}
	if dur <= 0 {
		return 0, d.Errf("duration must be positive: %q", v)
	}
	return caddy.Duration(dur), nil
}

func onOff(d *caddyfile.Dispenser, v string) (bool, error) {
	switch v {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, d.Errf("expected on or off, not %q", v)
}

func validSigningAlg(a string) bool {
	switch a {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
