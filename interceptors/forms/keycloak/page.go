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
	}
)

// alert is the theme's page-level error message (template.ftl), for a
// page that shows none yet.
const alert = `<div class="pf-v5-c-alert pf-m-inline pf-v5-u-mb-md pf-m-danger" role="alert"><span class="pf-v5-c-alert__title kc-feedback-text">{message}</span></div>`

// Markup is where the theme shows the forms and their errors: a field's
// or the page's message, else a page-level alert above the form.
func (*Profile) Markup(f forms.Form) (forms.Markup, bool) {
	sel, ok := formOf[f]
	return forms.Markup{Form: sel, Error: feedback, Alert: alert}, ok
}

// Read tells what Keycloak's answer to a post says: a redirect moves the
// flow on; the form shown again with a message is a failure.
func (*Profile) Read(f forms.Form, status int, _ http.Header, page *forms.Page) forms.Answer {
	if _, ok := formOf[f]; !ok {
		return forms.Answer{}
	}
	return forms.ReadPage(f, status, page, reasonOf)
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
