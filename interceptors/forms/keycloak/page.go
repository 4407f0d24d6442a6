package keycloak

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/interceptors/forms"
)

// The keycloak.v2 theme's markup.
var (
	feedback = forms.MustSelector(".kc-feedback-text")
	formOf   = map[forms.Form]forms.Selector{
		forms.Login:        forms.MustSelector("form#kc-form-login"),
		forms.Registration: forms.MustSelector("form#kc-register-form"),
		forms.Reset:        forms.MustSelector("form#kc-reset-password-form"),
		forms.OTP:          forms.MustSelector("form#kc-otp-login-form"),
		// The required actions' forms.
		forms.UpdatePassword: forms.MustSelector("form#kc-passwd-update-form"),
		forms.ConfigureOTP:   forms.MustSelector("form#kc-totp-settings-form"),
		forms.UpdateProfile:  forms.MustSelector("form#kc-update-profile-form"),
		forms.DeleteAccount:  forms.MustSelector("form#kc-deleteaccount-form"),
	}
	// body carries data-page-id, "login-" and the page's template: which
	// step the page shows.
	body = forms.MustSelector("body")
	// formPostError is an OIDC form_post answer with an error.
	formPostError = forms.MustSelector("input[name=error]")
)

// Pages that say a post did nothing: an error, an expired step, the
// login page (a flow started again).
var notDone = map[string]bool{"login-error": true, "login-login-page-expired": true, "login-login": true}

// alert is the theme's page-level error message (template.ftl), for a
// page that shows none yet.
const alert = `<div class="pf-v5-c-alert pf-m-inline pf-v5-u-mb-md pf-m-danger" role="alert"><span class="pf-v5-c-alert__title kc-feedback-text">{message}</span></div>`

// Markup is where the theme shows the forms and their errors: a field's
// or the page's message, else a page-level alert above the form.
func (*Profile) Markup(f forms.Form) (forms.Markup, bool) {
	sel, ok := formOf[f]
	return forms.Markup{Form: sel, Error: feedback, Alert: alert}, ok
}

// Read tells what Keycloak's answer to a post says. The form shown again
// with a message is a failure. A redirect moves the flow on, unless it
// is Keycloak sending the browser back to the step its session is on (a
// post of another step, a used session_code: a redirect to that step's
// login-actions URL), or to the application with an error or a
// cancelled action. A page of another step follows a success, unless it
// is an error or an expired page; a deletion's success is its info page.
func (*Profile) Read(f forms.Form, status int, h http.Header, page *forms.Page) forms.Answer {
	if _, ok := formOf[f]; !ok {
		return forms.Answer{}
	}
	if status >= 300 && status < 400 {
		if movedOn(f, h.Get("Location")) {
			return forms.Answer{Result: forms.Succeeded}
		}
		return forms.Answer{}
	}
	if f == forms.Registration || status != http.StatusOK || page == nil || page.HasForm() {
		return forms.ReadPage(f, status, page, reasonOf)
	}
	id, _ := page.Attr(body, "data-page-id")
	switch {
	case notDone[id] || page.Has(formPostError):
		return forms.Answer{}
	case f == forms.DeleteAccount && id != "login-info":
		return forms.Answer{}
	case id == "" && !page.Has(formPost):
		// Not a page of Keycloak's theme, nor a form_post answer.
		return forms.Answer{}
	}
	return forms.Answer{Result: forms.Succeeded}
}

// formPost is an OIDC form_post answer: the code on its way.
var formPost = forms.MustSelector("input[name=code]")

// movedOn reports whether a redirect answering a post of f moves the
// flow on. After a login or a registration Keycloak may redirect to a
// required action; after a required action it shows the next one in
// its answer, so a redirect to a login-actions URL is never its success.
func movedOn(f forms.Form, location string) bool {
	u, err := url.Parse(location)
	if err != nil {
		return false
	}
	if i := strings.Index(u.Path, "/login-actions/"); i >= 0 {
		step := u.Path[i+len("/login-actions/"):]
		switch f {
		case forms.Login, forms.OTP, forms.Registration:
			return step == "required-action"
		}
		return false
	}
	q := u.Query()
	if q.Has("error") {
		return false
	}
	if s := q.Get("kc_action_status"); s != "" && s != "success" {
		return false
	}
	return true
}

// Again is a GET of the post's action URL without its session_code:
// Keycloak answers it as a refresh of the current step, showing the form
// again and acting on nothing (SessionCodeChecks: no code, same
// execution).
func (*Profile) Again(post *http.Request, _ forms.Form, form url.Values) (*http.Request, error) {
	return forms.AgainByGet(post, []string{"session_code"}, nil, form)
}

// reasons map the theme's English messages (messages_en.properties) to the
// normalised reasons; other languages read as unknown, with the message.
var reasons = map[string]string{
	"invalid username or password.":                    forms.ReasonInvalidCredentials,
	"invalid username or email.":                       forms.ReasonInvalidCredentials,
	"invalid password.":                                forms.ReasonInvalidCredentials,
	"invalid username.":                                forms.ReasonInvalidCredentials,
	"account is disabled, contact your administrator.": forms.ReasonDisabled,
	"account is temporarily disabled; contact your administrator or retry later.": forms.ReasonTemporarilyLocked,
	"account is permanently locked.":                                              forms.ReasonDisabled,
	"invalid authenticator code.":                                                 forms.ReasonInvalidOTP,
	"username already exists.":                                                    forms.ReasonUserExists,
	"email already exists.":                                                       forms.ReasonEmailExists,
}

func reasonOf(f forms.Form, msg string) string {
	if r, ok := reasons[strings.ToLower(msg)]; ok {
		return r
	}
	if f == forms.Registration {
		return forms.ReasonInvalidInput
	}
	return forms.ReasonUnknown
}
