package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/generic"
	"github.com/idphooks/idphooks/interceptors/forms/simplesamlphp"
)

func init() {
	caddy.RegisterModule(SimpleSAMLphpForms{})
	caddy.RegisterModule(GenericForms{})
}

// SimpleSAMLphpForms is the profile of SimpleSAMLphp's username/password
// login page.
type SimpleSAMLphpForms struct {
	// BasePath is SimpleSAMLphp's baseurlpath; default /simplesaml/.
	BasePath string `json:"base_path,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (SimpleSAMLphpForms) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "idp_hooks.forms.profiles.simplesamlphp",
		New: func() caddy.Module { return new(SimpleSAMLphpForms) },
	}
}

// FormsProfile builds the profile.
func (s *SimpleSAMLphpForms) FormsProfile(string) (forms.Profile, forms.Directory, error) {
	p, err := simplesamlphp.New(s.BasePath)
	if err != nil {
		return nil, nil, err
	}
	return p, nil, nil
}

// UnmarshalCaddyfile reads
//
//	profile simplesamlphp {
//		base_path /simplesaml/
//	}
func (s *SimpleSAMLphpForms) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "base_path":
			if err := oneArg(d, &s.BasePath); err != nil {
				return err
			}
		default:
			return d.Errf("profile simplesamlphp: unknown option %q (use base_path)", d.Val())
		}
	}
	return nil
}

// GenericForms is a profile for any IdP with plain HTML forms: its
// endpoints, fields, error markup and messages are configuration.
type GenericForms struct {
	Login        *GenericForm `json:"login,omitempty"`
	Registration *GenericForm `json:"registration,omitempty"`
	Reset        *GenericForm `json:"reset,omitempty"`
	// Application is the query or form parameter that names the
	// application (client_id); none: hooks cannot be limited to some.
	Application string `json:"application,omitempty"`
	// PHP: the IdP reads fields as PHP's $_REQUEST does (query and body,
	// PHP's name folding, max_input_vars).
	PHP bool `json:"php,omitempty"`
	// Trim: the IdP trims the identifier as Java's String.trim does
	// (everything up to U+0020 around it) before it looks the user up.
	Trim bool `json:"trim,omitempty"`
	// Fold names the fields whose values the IdP reads without regard to
	// case (folded as Java's String.toLowerCase folds).
	Fold []string `json:"fold,omitempty"`
	// Alert is the HTML put above the form when the page shows no error
	// to replace; {message} stands for the escaped message.
	Alert string `json:"alert,omitempty"`
	// Reasons map a piece of the IdP's message to a normalised reason.
	Reasons []GenericReason `json:"reasons,omitempty"`
}

// GenericForm is one form of a generic profile.
type GenericForm struct {
	Paths       []string `json:"paths"`
	Identifiers []string `json:"identifiers,omitempty"`
	Password    string   `json:"password,omitempty"`
	Secrets     []string `json:"secrets,omitempty"`
	// Form and Error are selectors (tag#id.class[attr=value]): the form
	// on the IdP's page, and where the page shows errors.
	Form  string `json:"form"`
	Error string `json:"error"`
	// AgainDrop and AgainCarry shape the GET that shows the form again.
	AgainDrop  []string `json:"again_drop,omitempty"`
	AgainCarry []string `json:"again_carry,omitempty"`
}

// GenericReason maps messages containing Contains to Reason.
type GenericReason struct {
	Contains string `json:"contains"`
	Reason   string `json:"reason"`
}

// CaddyModule returns the Caddy module information.
func (GenericForms) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "idp_hooks.forms.profiles.generic",
		New: func() caddy.Module { return new(GenericForms) },
	}
}

var reasonNames = map[string]bool{
	forms.ReasonInvalidCredentials: true, forms.ReasonDisabled: true, forms.ReasonTemporarilyLocked: true,
	forms.ReasonUnknownUser: true, forms.ReasonUserExists: true, forms.ReasonEmailExists: true,
	forms.ReasonInvalidInput: true, forms.ReasonUnknown: true,
}

// FormsProfile builds the profile.
func (g *GenericForms) FormsProfile(string) (forms.Profile, forms.Directory, error) {
	cfg := generic.Config{Forms: map[forms.Form]*generic.Form{}, ApplicationParam: g.Application, Alert: g.Alert}
	if g.PHP {
		cfg.Reading = forms.Reading{Query: true, PHP: true}
	}
	cfg.Reading.Trim, cfg.Reading.Fold = g.Trim, g.Fold
	for kind, f := range map[forms.Form]*GenericForm{forms.Login: g.Login, forms.Registration: g.Registration, forms.Reset: g.Reset} {
		if f == nil {
			continue
		}
		page, err := forms.ParseSelector(f.Form)
		if err != nil {
			return nil, nil, fmt.Errorf("profile generic: %s: form: %w", kind, err)
		}
		errAt, err := forms.ParseSelector(f.Error)
		if err != nil {
			return nil, nil, fmt.Errorf("profile generic: %s: error: %w", kind, err)
		}
		cfg.Forms[kind] = &generic.Form{Paths: f.Paths, Identifiers: f.Identifiers, Password: f.Password, Secrets: f.Secrets,
			Page: page, Error: errAt, AgainDrop: f.AgainDrop, AgainCarry: f.AgainCarry}
	}
	for _, r := range g.Reasons {
		if !reasonNames[r.Reason] {
			return nil, nil, fmt.Errorf("profile generic: unknown reason %q", r.Reason)
		}
		if r.Contains == "" {
			return nil, nil, errors.New("profile generic: a reason needs the text it matches")
		}
		cfg.Reasons = append(cfg.Reasons, generic.Reason{Contains: r.Contains, Reason: r.Reason})
	}
	p, err := generic.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("profile %w", err)
	}
	return p, nil, nil
}

// UnmarshalCaddyfile reads
//
//	profile generic {
//		login <path...> {
//			identifier  <field...>
//			password    <field>
//			secret      <field...>
//			form        <selector>
//			error       <selector>
//			again_drop  <query parameter...>
//			again_carry <field...>
//		}
//		registration <path...> { … }
//		reset        <path...> { … }
//		application  <parameter>
//		php
//		trim
//		fold         <field...>
//		alert        <html with {message}>
//		reason       <text> <reason>
//	}
func (g *GenericForms) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch kind := d.Val(); kind {
		case "login", "registration", "reset":
			f, err := parseGenericForm(d)
			if err != nil {
				return err
			}
			dst := map[string]**GenericForm{"login": &g.Login, "registration": &g.Registration, "reset": &g.Reset}[kind]
			if *dst != nil {
				return d.Errf("profile generic: %s given twice", kind)
			}
			*dst = f
		case "application":
			if err := oneArg(d, &g.Application); err != nil {
				return err
			}
		case "php":
			if err := flagArg(d, &g.PHP); err != nil {
				return err
			}
		case "trim":
			if err := flagArg(d, &g.Trim); err != nil {
				return err
			}
		case "fold":
			g.Fold = d.RemainingArgs()
			if len(g.Fold) == 0 {
				return d.ArgErr()
			}
		case "alert":
			if err := oneArg(d, &g.Alert); err != nil {
				return err
			}
		case "reason":
			var r GenericReason
			if !d.Args(&r.Contains, &r.Reason) || d.NextArg() {
				return d.Err("reason takes the text a message contains and a reason")
			}
			g.Reasons = append(g.Reasons, r)
		default:
			return d.Errf("profile generic: unknown option %q (use login, registration, reset, application, php, alert, reason)", kind)
		}
	}
	return nil
}

func parseGenericForm(d *caddyfile.Dispenser) (*GenericForm, error) {
	kind := d.Val()
	f := &GenericForm{Paths: d.RemainingArgs()}
	if len(f.Paths) == 0 {
		return nil, d.Errf("profile generic: %s takes the path(s) the form posts to", kind)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) == 0 {
			return nil, d.ArgErr()
		}
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch opt {
		case "identifier":
			f.Identifiers = append(f.Identifiers, args...)
		case "password":
			err = one(&f.Password)
		case "secret":
			f.Secrets = append(f.Secrets, args...)
		case "form":
			err = one(&f.Form)
		case "error":
			err = one(&f.Error)
		case "again_drop":
			f.AgainDrop = append(f.AgainDrop, args...)
		case "again_carry":
			f.AgainCarry = append(f.AgainCarry, args...)
		default:
			return nil, d.Errf("profile generic: %s: unknown option %q (use identifier, password, secret, form, error, again_drop, again_carry)", kind, opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Interface guards
var (
	_ FormsProfile          = (*SimpleSAMLphpForms)(nil)
	_ FormsProfile          = (*GenericForms)(nil)
	_ caddyfile.Unmarshaler = (*SimpleSAMLphpForms)(nil)
	_ caddyfile.Unmarshaler = (*GenericForms)(nil)
)
