package forms

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/sandbox"
)

// maxMessage bounds a message a hook puts on a page.
const maxMessage = 1000

// answer sends the post on and runs the hooks of the IdP's answer:
// at_failed_authentication when the IdP showed the form again with an
// error, after_registration when it accepted a registration, an account
// event when it accepted an account step; and it notes who a login or
// registration the IdP accepted let in, for the account events after it.
func (i *Interceptor) answer(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post) error {
	_, isAccount := accountEvent[p.form]
	redirects := (p.form == Registration && i.cfg.Dispatcher.WantsEvent(events.AfterRegistration)) ||
		isAccount || i.remembers(p.form)
	var identifier string
	var user map[string]any
	if p.form == DeleteAccount && i.cfg.Dispatcher.WantsEvent(events.AfterAccountDeletion) {
		// Once the IdP removed them, nobody can tell who they were.
		identifier, user = i.flowUser(r.Context(), r)
	}
	interception.DecodableOnly(r.Header)
	c := interception.NewCapture(w, i.cfg.MaxBody, func(status int, h http.Header) bool {
		switch {
		case status >= 200 && status < 300:
			return isHTML(h)
		case status >= 300 && status < 400:
			return redirects
		}
		return false
	}).OnOverflow(interception.Stream)
	err := c.Serve(next, r)
	if !c.Held() || err != nil {
		c.Release()
		return err
	}
	defer c.Release()
	var page *Page
	var body []byte
	prof := i.cfg.Profile
	m, _ := prof.Markup(p.form)
	if c.Status() < 300 {
		body, err = c.Body()
		if err != nil {
			// Passed as it came: this answer's hooks cannot run on it.
			i.log.Warn("the IdP's answer to a form post could not be read; its hooks did not run",
				zap.String("form", p.form.String()), zap.String("request_id", interception.RequestID(r)), zap.Error(err))
			c.WriteHeld()
			return nil
		}
		page = ScanPage(body, m)
	}
	a := prof.Read(p.form, c.Status(), c.Header(), page)
	if a.Result != Failed && page != nil {
		// The IdP runs the step its session is on: a post the fields
		// called a login may have met its one-time code step, or the
		// other way round. The page it shows says which failed, and a
		// failure there is no success of the form posted.
		for _, g := range prof.MayCarry(p.classified) {
			gm, ok := prof.Markup(g)
			if g == p.form || !ok || !slices.Contains(answerEvents[g], events.AtFailedAuthentication) {
				continue
			}
			gp := ScanPage(body, gm)
			if ga := prof.Read(g, c.Status(), c.Header(), gp); ga.Result == Failed {
				a, page, m = ga, gp, gm
				p.form, p.fields = g, prof.Fields(g)
				break
			}
		}
	}
	if a.Result == Other && page != nil {
		i.identified(r, p, page)
	}
	switch {
	case a.Result == Failed:
		if slices.Contains(answerEvents[p.form], events.AtFailedAuthentication) && i.cfg.Dispatcher.WantsEvent(events.AtFailedAuthentication) {
			return i.failed(w, r, c, p, page, m, a)
		}
	case a.Result == Succeeded && isAccount:
		if p.form != DeleteAccount {
			identifier, user = i.flowUser(r.Context(), r)
		}
		identifier, user = i.checkSubject(r, c.Header(), identifier, user)
		return i.account(w, r, c, p, identifier, user)
	case a.Result == Succeeded:
		i.remember(r, p)
		if p.form == Registration && i.cfg.Dispatcher.WantsEvent(events.AfterRegistration) {
			return i.registered(w, r, c, p)
		}
	}
	c.WriteHeld()
	return nil
}

// failed runs at_failed_authentication on a failure page.
func (i *Interceptor) failed(w http.ResponseWriter, r *http.Request, c *interception.Capture, p *post, page *Page, m Markup, a Answer) error {
	out, ok := i.dispatch(r, events.AtFailedAuthentication, p, func(ev *events.Event) {
		ev.Data["error"] = a.Reason
		ev.Data["idp_message"] = a.Message
		ev.Data["status"] = c.Status()
	}, checkFailure)
	if !ok {
		c.WriteHeld()
		return nil
	}
	if to, ok := redirectOf(out.Ops); ok && !out.Denied {
		redirect(w, to, c.Header())
		return nil
	}
	message, replace := replacementOf(out.Ops)
	if out.Denied {
		// A failed hook: a generic message, never the hook's error.
		message, replace = shown(out), true
	}
	if !replace {
		c.WriteHeld()
		return nil
	}
	edited, err := page.Show(message, nil)
	if err != nil {
		i.log.Warn("at_failed_authentication: the message could not be put on the IdP's page; it is shown unchanged",
			zap.String("request_id", interception.RequestID(r)), zap.Error(err))
		c.WriteHeld()
		return nil
	}
	c.WriteBody("", edited)
	return nil
}

// registered runs after_registration on the IdP's success answer.
func (i *Interceptor) registered(w http.ResponseWriter, r *http.Request, c *interception.Capture, p *post) error {
	out, ok := i.dispatch(r, events.AfterRegistration, p, func(ev *events.Event) {
		user := map[string]any{}
		if p.identifier != "" {
			user["username"] = p.identifier
		}
		if e := p.read("email", p.values.Get("email")); e != "" {
			user["email"] = e
		}
		ev.User = user
	}, checkRedirect)
	if !ok {
		c.WriteHeld()
		return nil
	}
	if out.Denied {
		// The account exists, but the flow stops here: the IdP's answer
		// (its session cookies included) does not reach the browser.
		return &interception.PageError{Status: http.StatusForbidden, Message: shown(out),
			Cause: errors.New("after_registration hook failed with on_error deny")}
	}
	if to, ok := redirectOf(out.Ops); ok {
		redirect(w, to, c.Header())
		return nil
	}
	c.WriteHeld()
	return nil
}

// checkFailure validates replaceError and redirect while the hook runs.
func checkFailure(op sandbox.Op) error {
	if op.Object == "" && op.Method == "replaceError" {
		if len(op.Args) == 0 {
			return errors.New("a message is required")
		}
		s, ok := op.Args[0].(string)
		if !ok || s == "" || len(s) > maxMessage {
			return fmt.Errorf("the message must be a string of 1 to %d bytes", maxMessage)
		}
		return nil
	}
	return checkRedirect(op)
}

// replacementOf is the last message the hooks put in the IdP's place.
func replacementOf(ops []sandbox.Op) (string, bool) { return lastCall(ops, "replaceError") }
