// Package keycloak is the forms profile of Keycloak 26 (theme
// keycloak.v2): its login-actions endpoints, field names, how its answers
// say success and failure, where its pages show errors, and, with an
// admin client, its user store for lazy migration.
package keycloak

import (
	"encoding/base64"
	"encoding/json"
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
	case "required-action":
		// Keycloak runs the required action the execution parameter
		// names when it is the session's current one (the first value,
		// compared exactly; without regard to case here, so that any
		// spelling it might accept counts).
		// A malformed pair does not hide the others; readPost then
		// refuses the query.
		q, _ := url.ParseQuery(r.URL.RawQuery)
		for name, f := range requiredActions {
			if strings.EqualFold(q.Get("execution"), name) {
				return f
			}
		}
	}
	return forms.NoForm
}

// requiredActions are the required actions (by alias) whose success
// raises an event. The update-password step of a password reset is
// UPDATE_PASSWORD too.
var requiredActions = map[string]forms.Form{
	"UPDATE_PASSWORD": forms.UpdatePassword,
	"CONFIGURE_TOTP":  forms.ConfigureOTP,
	"UPDATE_PROFILE":  forms.UpdateProfile,
	"delete_account":  forms.DeleteAccount,
}

// registrationOnly are fields only Keycloak's registration form posts.
var registrationOnly = []string{"password-confirm", "email", "firstName", "lastName"}

// Refine: Keycloak runs the step its login session is on whichever
// authentication endpoint a form is posted to, so a registration posted
// to /authenticate creates the account. A post carrying a field only the
// registration form has is read as one; a post to /authenticate with a
// one-time code and no username as the code step of a login. Required
// actions are run by their own endpoint alone.
func (*Profile) Refine(f forms.Form, values url.Values) forms.Form {
	if f != forms.Login && f != forms.Reset {
		return f
	}
	for _, k := range registrationOnly {
		if values.Has(k) {
			return forms.Registration
		}
	}
	if f == forms.Login && values.Has("otp") && !values.Has("username") {
		return forms.OTP
	}
	return f
}

// MayCarry: a post to an authentication endpoint may be a registration,
// and a login's the one-time code step (the answer's page tells).
func (*Profile) MayCarry(f forms.Form) []forms.Form {
	switch f {
	case forms.Login:
		return []forms.Form{f, forms.OTP, forms.Registration}
	case forms.Reset:
		return []forms.Form{f, forms.Registration}
	}
	return []forms.Form{f}
}

// secrets are every secret field of Keycloak's forms: each form's
// fields redact them all, since Keycloak runs the step its session is
// on and a post may carry another step's fields (a code, a new password
// or the TOTP secret beside a username).
var secrets = []string{"password", "password-new", "password-confirm", "otp", "totp", "totpSecret"}

var (
	loginFields        = forms.Fields{Identifiers: []string{"username"}, Password: "password", Secrets: secrets}
	registrationFields = forms.Fields{Identifiers: []string{"username", "email"}, Password: "password", Secrets: secrets}
	resetFields        = forms.Fields{Identifiers: []string{"username"}, Secrets: secrets}
	// The account steps name nobody: the flow's login did.
	otherFields = forms.Fields{Secrets: secrets}
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
	return otherFields
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

// FlowKey: the session is the AUTH_SESSION_ID cookie Keycloak binds a
// browser's login flows to (signed by Keycloak, the same for the whole
// SSO session): the account steps after a login, and the actions a
// signed-in customer starts later, carry it. The flow is the session and
// the action URL's tab_id, one login's. A request with two such cookies
// names none.
func (p *Profile) FlowKey(r *http.Request) (session, flow string) {
	var v string
	for _, c := range r.CookiesNamed("AUTH_SESSION_ID") {
		if v != "" {
			return "", ""
		}
		v = c.Value
	}
	if v == "" {
		return "", ""
	}
	session = strings.ToLower(p.Realm) + " " + v
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if tab := q.Get("tab_id"); tab != "" && len(q["tab_id"]) == 1 {
		flow = session + " " + tab
	}
	return session, flow
}

// Identified: Keycloak's password step (login-password.ftl) with no
// error, for a post of another execution than the page's form: the
// username step it moved on from. A post Keycloak does not act on (a
// used session_code) is answered with the page of the step its session
// is on; posted to the password step's own URL, that page is not taken
// for the identifier's.
func (*Profile) Identified(post *http.Request, page *forms.Page) bool {
	if id, _ := page.Attr(body, "data-page-id"); id != "login-login-password" || page.Message() != "" {
		return false
	}
	action, ok := page.Attr(formOf[forms.Login], "action")
	if !ok {
		return false
	}
	next, err := url.Parse(action)
	if err != nil {
		return false
	}
	posted, err := url.ParseQuery(post.URL.RawQuery)
	if err != nil {
		return false
	}
	from, to := posted.Get("execution"), next.Query().Get("execution")
	return from != "" && to != "" && from != to
}

// Application is the action URL's client_id: the OIDC client id, or a
// SAML client's SP entity id.
func (*Profile) Application(query, _ url.Values) string { return query.Get("client_id") }

// Subject is the user id (sub) of the KEYCLOAK_IDENTITY cookie an answer
// sets: Keycloak sets it, a JWT naming the user it signed in, when a
// flow ends (the redirect to the application). Its signature is
// Keycloak's realm secret, not checked: the header is Keycloak's own
// answer, on its way to the browser.
func (*Profile) Subject(h http.Header) string {
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Name != "KEYCLOAK_IDENTITY" || c.Value == "" || c.MaxAge < 0 {
			continue
		}
		parts := strings.Split(c.Value, ".")
		if len(parts) != 3 {
			return ""
		}
		b, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return ""
		}
		var claims struct {
			Sub string `json:"sub"`
		}
		if json.Unmarshal(b, &claims) != nil {
			return ""
		}
		return claims.Sub
	}
	return ""
}
