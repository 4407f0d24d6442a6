// Package generic is the forms profile of any IdP whose pages are plain
// HTML forms: the form endpoints, field names, where the pages show
// errors and how failures read are configuration, not code. The
// simplesamlphp profile is one such configuration.
package generic

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/interceptors/forms"
)

// Form is one form the profile knows.
type Form struct {
	// Paths are where the form posts, as interception.NormalizePath
	// folds them. A path ending in "/" matches itself and what lies under
	// it.
	Paths []string
	// Identifiers name the fields saying who the customer is, the first
	// one present counting.
	Identifiers []string
	// Password is the password field (login and registration).
	Password string
	// Secrets are the other fields no event shows (confirmations,
	// one-time codes).
	Secrets []string
	// Page picks the form on the IdP's page: a page holding it, with an
	// error, is the IdP's failure answer.
	Page forms.Selector
	// Error picks where the page shows its errors.
	Error forms.Selector
	// AgainDrop are the query parameters dropped, and AgainCarry the
	// fields carried from the post into the query, of the GET that shows
	// the form again (a denied post is answered with it).
	AgainDrop  []string
	AgainCarry []string
}

// Config is a generic profile.
type Config struct {
	// Name is the profile's name in logs ("generic" by default).
	Name string
	// Forms by kind: forms.Login, forms.Registration, forms.Reset.
	Forms map[forms.Form]*Form
	// ApplicationParam is the query or form parameter naming the
	// application (OIDC client_id, SAML SP entity id); "" when posts do
	// not say.
	ApplicationParam string
	// Reading is how the IdP reads fields (PHP's $_REQUEST, say).
	Reading forms.Reading
	// Alert is the HTML shown above the form when the page has no error
	// to replace; {message} stands for the escaped message.
	Alert string
	// Reasons map a substring of the IdP's message (case folded) to a
	// normalised reason, in order.
	Reasons []Reason
}

// Reason maps an IdP message to a normalised reason.
type Reason struct {
	Contains string
	Reason   string
}

// DefaultAlert is Config.Alert's default.
const DefaultAlert = `<p class="error" role="alert">{message}</p>`

// Profile is a generic profile, safe for concurrent use.
type Profile struct {
	cfg Config
}

// New checks cfg and returns its profile.
func New(cfg Config) (*Profile, error) {
	if cfg.Name == "" {
		cfg.Name = "generic"
	}
	if cfg.Alert == "" {
		cfg.Alert = DefaultAlert
	}
	if !strings.Contains(cfg.Alert, "{message}") {
		return nil, errors.New(cfg.Name + ": alert must hold {message}")
	}
	if len(cfg.Forms) == 0 {
		return nil, errors.New(cfg.Name + ": at least one of login, registration, reset is required")
	}
	// The profile keeps its own copy: the caller's may change.
	own := make(map[forms.Form]*Form, len(cfg.Forms))
	for kind, f := range cfg.Forms {
		c := *f
		c.Paths = append([]string(nil), f.Paths...)
		own[kind] = &c
	}
	cfg.Forms = own
	paths := map[string]bool{}
	for kind, f := range cfg.Forms {
		if len(f.Paths) == 0 {
			return nil, fmt.Errorf("%s: %s: a path is required", cfg.Name, kind)
		}
		for k, p := range f.Paths {
			if !strings.HasPrefix(p, "/") {
				return nil, fmt.Errorf("%s: %s: path %q must start with /", cfg.Name, kind, p)
			}
			under := strings.HasSuffix(p, "/") && p != "/"
			p = interception.NormalizePath(p)
			if under {
				p += "/"
			}
			if paths[p] {
				return nil, fmt.Errorf("%s: path %s is given twice", cfg.Name, p)
			}
			paths[p] = true
			f.Paths[k] = p
		}
		if len(f.Identifiers) == 0 && kind != forms.Registration {
			return nil, fmt.Errorf("%s: %s: an identifier field is required", cfg.Name, kind)
		}
		if f.Password == "" && kind == forms.Login {
			return nil, fmt.Errorf("%s: login: a password field is required", cfg.Name)
		}
		if f.Page.Empty() {
			return nil, fmt.Errorf("%s: %s: the form's selector is required", cfg.Name, kind)
		}
		if f.Error.Empty() {
			return nil, fmt.Errorf("%s: %s: the error's selector is required", cfg.Name, kind)
		}
	}
	return &Profile{cfg: cfg}, nil
}

// Name is the profile's name.
func (p *Profile) Name() string { return p.cfg.Name }

// Classify finds the form whose path matches.
func (p *Profile) Classify(_ *http.Request, path string) forms.Form {
	for kind, f := range p.cfg.Forms {
		for _, fp := range f.Paths {
			if path == fp || (strings.HasSuffix(fp, "/") && (strings.HasPrefix(path, fp) || path+"/" == fp)) {
				return kind
			}
		}
	}
	return forms.NoForm
}

// Fields names a form's fields.
func (p *Profile) Fields(kind forms.Form) forms.Fields {
	f, ok := p.cfg.Forms[kind]
	if !ok {
		return forms.Fields{}
	}
	secrets := append([]string(nil), f.Secrets...)
	if f.Password != "" {
		secrets = append(secrets, f.Password)
	}
	return forms.Fields{Identifiers: f.Identifiers, Password: f.Password, Secrets: secrets}
}

// Refine: a generic IdP is taken to act on the endpoint posted to.
func (p *Profile) Refine(f forms.Form, _ url.Values) forms.Form { return f }

// MayCarry is f alone.
func (p *Profile) MayCarry(f forms.Form) []forms.Form { return []forms.Form{f} }

// ApplicationParams is the application parameter, when configured.
func (p *Profile) ApplicationParams() []string {
	if p.cfg.ApplicationParam == "" {
		return nil
	}
	return []string{p.cfg.ApplicationParam}
}

// Reading is the configured one.
func (p *Profile) Reading() forms.Reading { return p.cfg.Reading }

// Application reads the application parameter from the query, else the
// form.
func (p *Profile) Application(query, form url.Values) string {
	if p.cfg.ApplicationParam == "" {
		return ""
	}
	if v := query.Get(p.cfg.ApplicationParam); v != "" {
		return v
	}
	return form.Get(p.cfg.ApplicationParam)
}

// Again is a GET of the post's URL, AgainDrop removed and AgainCarry
// carried over from the post.
func (p *Profile) Again(post *http.Request, kind forms.Form, form url.Values) (*http.Request, error) {
	f, ok := p.cfg.Forms[kind]
	if !ok {
		return nil, errors.New(p.cfg.Name + ": no such form")
	}
	return forms.AgainByGet(post, f.AgainDrop, f.AgainCarry, form)
}

// Markup is the configured form's.
func (p *Profile) Markup(kind forms.Form) (forms.Markup, bool) {
	f, ok := p.cfg.Forms[kind]
	if !ok {
		return forms.Markup{}, false
	}
	return forms.Markup{Form: f.Page, Error: f.Error, Alert: p.cfg.Alert}, true
}

// Read tells a failure (the form again, with an error) from a success (a
// redirect; for a registration, a page without the form).
func (p *Profile) Read(kind forms.Form, status int, _ http.Header, page *forms.Page) forms.Answer {
	if _, ok := p.cfg.Forms[kind]; !ok {
		return forms.Answer{}
	}
	return forms.ReadPage(kind, status, page, p.reason)
}

func (p *Profile) reason(kind forms.Form, msg string) string {
	m := strings.ToLower(msg)
	for _, r := range p.cfg.Reasons {
		if strings.Contains(m, strings.ToLower(r.Contains)) {
			return r.Reason
		}
	}
	if kind == forms.Registration {
		return forms.ReasonInvalidInput
	}
	return forms.ReasonUnknown
}
