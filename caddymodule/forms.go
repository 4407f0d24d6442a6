package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/keycloak"
)

func init() {
	caddy.RegisterModule(KeycloakForms{})
}

// FormsConfig turns the forms interceptor on: hooks on the IdP's own
// login, registration and password reset pages.
type FormsConfig struct {
	// ProfileRaw is what idphooks knows of the IdP's pages: a module in
	// the idp_hooks.forms.profiles namespace, chosen by its "name" key.
	ProfileRaw json.RawMessage `json:"profile,omitempty" caddy:"namespace=idp_hooks.forms.profiles inline_key=name"`
}

// FormsProfile is a module in the idp_hooks.forms.profiles namespace.
type FormsProfile interface {
	// FormsProfile builds the profile; upstream is idp_hooks' upstream
	// (the IdP's issuer), "" when none is set. The directory is nil when
	// the profile offers no lazy migration.
	FormsProfile(upstream string) (forms.Profile, forms.Directory, error)
}

// KeycloakForms is the profile of Keycloak 26 (theme keycloak.v2).
type KeycloakForms struct {
	// RealmURL is the realm, http://keycloak:8080/realms/acme. Default:
	// the upstream.
	RealmURL string `json:"realm_url,omitempty"`

	// AdminClientID and AdminClientSecret are a confidential client of the
	// realm whose service account holds realm-management's view-users and
	// manage-users: with it, before_password_validation moves users from
	// a legacy store into Keycloak (lazy migration). Placeholders such as
	// {env.KC_ADMIN_SECRET} are replaced.
	AdminClientID     string `json:"admin_client_id,omitempty"`
	AdminClientSecret string `json:"admin_client_secret,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (KeycloakForms) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "idp_hooks.forms.profiles.keycloak",
		New: func() caddy.Module { return new(KeycloakForms) },
	}
}

// FormsProfile builds the Keycloak profile.
func (k *KeycloakForms) FormsProfile(upstream string) (forms.Profile, forms.Directory, error) {
	realmURL := k.RealmURL
	if realmURL == "" {
		realmURL = upstream
	}
	if realmURL == "" {
		return nil, nil, errors.New("profile keycloak: realm_url is required when there is no upstream")
	}
	base, realm, err := keycloak.RealmOf(realmURL)
	if err != nil {
		return nil, nil, fmt.Errorf("profile keycloak: %w", err)
	}
	p, err := keycloak.New(realm)
	if err != nil {
		return nil, nil, err
	}
	if (k.AdminClientID == "") != (k.AdminClientSecret == "") {
		return nil, nil, errors.New("profile keycloak: admin_client needs a client id and a secret")
	}
	if k.AdminClientID == "" {
		return p, nil, nil
	}
	repl := caddy.NewReplacer()
	return p, keycloak.NewDirectory(base, realm, repl.ReplaceKnown(k.AdminClientID, ""), repl.ReplaceKnown(k.AdminClientSecret, "")), nil
}

// UnmarshalCaddyfile reads
//
//	profile keycloak {
//		realm_url    <url>
//		admin_client <client id> <secret>
//	}
func (k *KeycloakForms) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "realm_url":
			if err := oneArg(d, &k.RealmURL); err != nil {
				return err
			}
		case "admin_client":
			if !d.Args(&k.AdminClientID, &k.AdminClientSecret) || d.NextArg() {
				return d.Err("admin_client takes a client id and a secret")
			}
		default:
			return d.Errf("profile keycloak: unknown option %q (use realm_url, admin_client)", d.Val())
		}
	}
	return nil
}

// parseForms reads
//
//	forms {
//		profile <name> { … }
//	}
func (h *Handler) parseForms(d *caddyfile.Dispenser) error {
	if h.Forms != nil {
		return d.Err("forms given twice")
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	h.Forms = &FormsConfig{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "profile":
			if h.Forms.ProfileRaw != nil {
				return d.Err("forms: profile given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			var mod caddyfile.Unmarshaler
			switch name {
			case "keycloak":
				mod = new(KeycloakForms)
			case "simplesamlphp":
				mod = new(SimpleSAMLphpForms)
			case "generic":
				mod = new(GenericForms)
			default:
				return d.Errf("forms: unknown profile %q (use keycloak, simplesamlphp or generic)", name)
			}
			if err := mod.UnmarshalCaddyfile(d); err != nil {
				return err
			}
			raw, err := json.Marshal(mod)
			if err != nil {
				return err
			}
			h.Forms.ProfileRaw = withName(raw, name)
		default:
			return d.Errf("forms: unknown option %q (use profile)", d.Val())
		}
	}
	if h.Forms.ProfileRaw == nil {
		return d.Err("forms: a profile is required (profile keycloak)")
	}
	return nil
}

// withName adds the inline "name" key to a module's JSON.
func withName(raw json.RawMessage, name string) json.RawMessage {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{}
	}
	m["name"] = name
	out, _ := json.Marshal(m)
	return out
}

// provisionForms builds the forms interceptor.
func (h *Handler) provisionForms(ctx caddy.Context) error {
	if h.Forms.ProfileRaw == nil {
		return errors.New("idp_hooks: forms: a profile is required")
	}
	mod, err := ctx.LoadModule(h.Forms, "ProfileRaw")
	if err != nil {
		return fmt.Errorf("idp_hooks: forms: loading the profile: %w", err)
	}
	profile, dir, err := mod.(FormsProfile).FormsProfile(h.Upstream)
	if err != nil {
		return fmt.Errorf("idp_hooks: forms: %w", err)
	}
	if len(profile.ApplicationParams()) == 0 {
		// The profile's posts do not say which application the flow is
		// for: a hook limited to some could not be chosen.
		ic := &forms.Interceptor{}
		for _, eh := range h.dispatcher.Hooks() {
			if len(eh.Applications) == 0 {
				continue
			}
			for _, id := range ic.Raises() {
				if eh.Runner.Exports(events.HandlerName(id)) {
					return fmt.Errorf("idp_hooks: hook %s is limited to applications, but profile %s cannot tell the application of %s: drop applications or split the hook",
						eh.Name, profile.Name(), id)
				}
			}
		}
	}
	id := events.BeforePasswordValidation
	for _, eh := range h.dispatcher.Hooks() {
		if !eh.Runner.Exports(events.HandlerName(id)) {
			continue
		}
		if eh.Mode == events.Async {
			return fmt.Errorf("idp_hooks: hook %s: %s sees the password and cannot run async", eh.Name, events.HandlerName(id))
		}
		if dir == nil {
			return fmt.Errorf("idp_hooks: hook %s handles %s, which needs the profile's admin_client (lazy migration creates the user in the IdP)", eh.Name, id)
		}
	}
	ic, err := forms.New(forms.Config{
		Profile:    profile,
		Directory:  dir,
		Dispatcher: h.dispatcher,
		MaxBody:    h.MaxBody,
		Logger:     h.logger.Named("forms"),
	})
	if err != nil {
		return fmt.Errorf("idp_hooks: %w", err)
	}
	h.forms = ic
	return nil
}

// Interface guards
var (
	_ FormsProfile          = (*KeycloakForms)(nil)
	_ caddyfile.Unmarshaler = (*KeycloakForms)(nil)
)
