package forms

import (
	"errors"
	"net/http"
)

// ReadPage is how most IdPs answer a form post, read: a redirect moves the
// flow on; the form shown again (status 200) with an error is a failure;
// for a registration, a page without the form is the next step after a
// success. reason normalises the IdP's message.
func ReadPage(f Form, status int, page []byte, form, errorAt Selector, reason func(Form, string) string) Answer {
	if status >= 300 && status < 400 {
		return Answer{Result: Succeeded}
	}
	if status != http.StatusOK || page == nil {
		return Answer{}
	}
	if !Has(page, form) {
		// Another page: a next step (one-time code, a required action,
		// the SAML POST page) after a success.
		if f == Registration {
			return Answer{Result: Succeeded}
		}
		return Answer{}
	}
	var msg string
	for _, t := range Texts(page, errorAt) {
		if t != "" {
			msg = t
			break
		}
	}
	if msg == "" {
		return Answer{}
	}
	return Answer{Result: Failed, Reason: reason(f, msg), Message: msg}
}

// ErrNoForm is ShowAt's answer for a page without the form.
var ErrNoForm = errors.New("the page holds neither an error nor the form to show the message at")

// ShowAt puts message where errorAt picks (the page's own error, replaced),
// or else the alert HTML right before the form.
func ShowAt(page []byte, errorAt, form Selector, message, alert string) ([]byte, error) {
	if out, n := ReplaceText(page, errorAt, message); n > 0 {
		return out, nil
	}
	out, ok := InsertBefore(page, form, alert)
	if !ok {
		return nil, ErrNoForm
	}
	return out, nil
}
