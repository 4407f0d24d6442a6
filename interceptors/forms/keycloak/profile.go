// Package keycloak is the forms profile of Keycloak 26 (theme
// keycloak.v2): its login-actions endpoints, field names, how its answers
// say success and failure, where its pages show errors, and, with an
// admin client, its user store for lazy migration.
package keycloak

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/interceptors/forms"
)

// Profile is Keycloak's. Realm is the realm whose pages are intercepted;
// other realms behind the same Caddy pass untouched.
type Profile struct {
	Realm string
}

// New returns the profile of realm.
func New(realm string) (*Profile, error) {
	if realm == "" || strings.ContainsAny(realm, "/?#") {
		return nil, errors.New("keycloak: a realm name is required")
	}
	return &Profile{Realm: realm}, nil
}

// RealmOf reads the realm name from a realm URL
// (http://keycloak:8080/realms/acme or …/auth/realms/acme).
func RealmOf(realmURL string) (base, realm string, err error) {
	u, err := url.Parse(realmURL)
	if err != nil || u.Host == "" {
		return "", "", errors.New("keycloak: the realm URL must be absolute, like http://keycloak:8080/realms/acme")
	}
	p := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(p, "/realms/")
	if i < 0 || strings.Contains(p[i+len("/realms/"):], "/") || p[i+len("/realms/"):] == "" {
		return "", "", errors.New("keycloak: the realm URL must end in /realms/<realm>")
	}
	u.Path, u.RawQuery, u.Fragment = p[:i], "", ""
	return strings.TrimSuffix(u.String(), "/"), p[i+len("/realms/"):], nil
}

// Name is the profile's name.
func (*Profile) Name() string { return "keycloak" }

// Classify tells the login-actions posts apart. path is folded (lower
// case, cleaned): Keycloak's router is stricter, so anything it would
// route here classifies.
func (p *Profile) Classify(r *http.Request, path string) forms.Form {
	prefix := "/realms/" + strings.ToLower(p.Realm) + "/login-actions/"
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return forms.NoForm
	}
	switch rest {
	case "authenticate":
		return forms.Login
	case "registration":
		return forms.Registration
	case "reset-credentials":
		return forms.Reset
	}
	return forms.NoForm
}

// registrationOnly are fields only Keycloak's registration form posts.
var registrationOnly = []string{"password-confirm", "email", "firstName", "lastName"}

// Refine: Keycloak runs the step its login session is on whichever
// login-actions endpoint a form is posted to, so a registration posted
// to /authenticate creates the account. A post carrying a field only the
// registration form has is read as one.
func (*Profile) Refine(f forms.Form, values url.Values) forms.Form {
	if f == forms.Registration {
		return f
	}
	for _, k := range registrationOnly {
		if values.Has(k) {
			return forms.Registration
		}
	}
	return f
}

// MayCarry: a post to any form's endpoint may be a registration.
func (*Profile) MayCarry(f forms.Form) []forms.Form {
	if f == forms.Registration {
		return []forms.Form{f}
	}
	return []forms.Form{f, forms.Registration}
}

var (
	loginFields = forms.Fields{Identifiers: []string{"username"}, Password: "password",
		Secrets: []string{"password", "otp", "totp"}}
	registrationFields = forms.Fields{Identifiers: []string{"username", "email"}, Password: "password",
		Secrets: []string{"password", "password-confirm"}}
	resetFields = forms.Fields{Identifiers: []string{"username"}}
)

// Fields names the fields of Keycloak's forms.
func (*Profile) Fields(f forms.Form) forms.Fields {
	switch f {
	case forms.Login:
		return loginFields
	case forms.Registration:
		return registrationFields
	case forms.Reset:
		return resetFields
	}
	return forms.Fields{}
}

// ApplicationParams: Keycloak finds the flow's client by the action URL's
// client_id, and refuses one that is not the auth session's.
func (*Profile) ApplicationParams() []string { return []string{"client_id"} }

// Reading: Keycloak reads form fields from the body alone, trims the
// username of a login or reset post (AbstractUsernameFormAuthenticator,
// ResetCredentialChooseUser: String.trim) and finds users by username or
// email without regard to case, which it stores lower-cased.
func (*Profile) Reading() forms.Reading {
	return forms.Reading{Trim: true, Fold: []string{"username", "email"}}
}

// Application is the action URL's client_id: the OIDC client id, or a
// SAML client's SP entity id.
func (*Profile) Application(query, _ url.Values) string { return query.Get("client_id") }
