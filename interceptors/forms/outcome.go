package forms

import "net/http"

// ReadPage is how most IdPs answer a form post, read: a redirect moves the
// flow on; the form shown again (status 200) with an error is a failure;
// for a registration, a page without the form is the next step after a
// success. reason normalises the IdP's message.
func ReadPage(f Form, status int, page *Page, reason func(Form, string) string) Answer {
	if status >= 300 && status < 400 {
		return Answer{Result: Succeeded}
	}
	if status != http.StatusOK || page == nil {
		return Answer{}
	}
	if !page.HasForm() {
		// Another page: a next step (one-time code, a required action,
		// the SAML POST page) after a success.
		if f == Registration {
			return Answer{Result: Succeeded}
		}
		return Answer{}
	}
	msg := page.Message()
	if msg == "" {
		return Answer{}
	}
	return Answer{Result: Failed, Reason: reason(f, msg), Message: msg}
}
