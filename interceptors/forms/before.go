package forms

import (
	"context"
	"errors"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/sandbox"
)

// beforePost runs the hooks of p's form before the IdP sees it. done says
// the post was answered in the IdP's place (denied, redirected, refused).
func (i *Interceptor) beforePost(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post) (done bool, err error) {
	switch p.form {
	case Login:
		if p.identifier == "" {
			// The password step of a flow whose username step idphooks
			// did not see: nobody to judge.
			return false, nil
		}
		if !p.carried {
			// A carried identifier was judged at the username step.
			if done, err := i.stopOr(w, r, next, p, events.AfterIdentification); done || err != nil {
				return done, err
			}
		}
		return i.validatePassword(w, r, next, p)
	case Registration:
		if as := p.asPosted(i.cfg.Profile); as != nil {
			// Posted to the login (or reset) endpoint with a field only
			// the registration form has: the IdP runs the step its
			// session is on, which may be the login's, reading only
			// its fields. Its hooks judge it too, or a login hook is
			// skipped by adding an email to the post.
			if done, err := i.stopOr(w, r, next, as, requestEvents[as.form][0]); done || err != nil {
				return done, err
			}
		}
		return i.beforeRegistration(w, r, next, p)
	case Reset:
		return i.stopOr(w, r, next, p, events.BeforePasswordReset)
	}
	return false, nil
}

// dispatch raises id for p, or counts it skipped when no hook applies to
// p's application. ok is false when no hook ran.
func (i *Interceptor) dispatch(r *http.Request, id string, p *post, data func(*events.Event), check func(sandbox.Op) error) (events.Outcome, bool) {
	disp := i.cfg.Dispatcher
	if !disp.Wants(id, p.app) {
		disp.Skip(id, p.app, interception.RequestID(r))
		return events.Outcome{}, false
	}
	ev := i.event(r, id, p)
	if data != nil {
		data(ev)
	}
	out := disp.Dispatch(r.Context(), ev, check)
	if out.Err != nil {
		// The event could not be kept for its async receivers: the post
		// stops here, the customer may retry. A queue that is away was
		// logged by the dispatcher, once for the outage.
		if !errors.Is(out.Err, events.ErrNotQueued) {
			i.log.Error("form post refused: its event could not be queued", zap.String("event", id),
				zap.String("request_id", interception.RequestID(r)), zap.Error(out.Err))
		}
		out.Denied, out.Failed, out.Ops = true, true, nil
	}
	return out, true
}

// stopOr raises an event whose hooks may deny or redirect the post.
func (i *Interceptor) stopOr(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post, id string) (bool, error) {
	out, ok := i.dispatch(r, id, p, nil, checkRedirect)
	if !ok {
		return false, nil
	}
	return i.stop(w, r, next, p, out)
}

// stop answers a post whose hooks denied or redirected it; done is false
// when they did neither.
func (i *Interceptor) stop(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post, out events.Outcome) (done bool, err error) {
	if out.Denied {
		return true, i.again(w, r, next, p, shown(out))
	}
	if to, ok := redirectOf(out.Ops); ok {
		redirect(w, to, nil)
		return true, nil
	}
	return false, nil
}

// HookFailed is what a customer reads when a hook on their page failed
// (on_error deny): never the hook's own error.
const HookFailed = "Something went wrong. Please try again."

// shown is the message a customer reads for a denied post.
func shown(out events.Outcome) string {
	if out.Failed {
		return HookFailed
	}
	return out.Reason
}

// validatePassword is lazy migration: for an identifier the IdP does not
// know, before_password_validation asks the hooks (a legacy store) whether
// the password is right, and an accepted user is created in the IdP with
// it before the post goes on. Users the IdP knows never raise the event.
func (i *Interceptor) validatePassword(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post) (bool, error) {
	dir := i.cfg.Directory
	id := events.BeforePasswordValidation
	password := p.values.Get(p.fields.Password)
	if dir == nil || p.identifier == "" || password == "" || !i.cfg.Dispatcher.WantsEvent(id) {
		return false, nil
	}
	if i.knows(r.Context(), p.identifier) {
		return false, nil
	}
	out, ok := i.dispatch(r, id, p, func(ev *events.Event) {
		ev.Data["password"] = password
		ev.Secrets = []string{password}
	}, checkAccept)
	if !ok {
		return false, nil
	}
	if out.Denied {
		return true, i.again(w, r, next, p, shown(out))
	}
	accepted, rejected, reason, profile := verdict(out.Ops)
	switch {
	case rejected:
		if reason == "" {
			reason = InvalidCredentials
		}
		return true, i.again(w, r, next, p, reason)
	case !accepted:
		// Neither: the IdP decides, as for anyone it does not know.
		return false, nil
	}
	u := profile.user(p.identifier, password)
	if err := dir.Create(r.Context(), u); err != nil && !errors.Is(err, ErrUserExists) {
		i.log.Error("lazy migration: the user could not be created in the IdP",
			zap.String("identifier", p.identifier), zap.String("request_id", interception.RequestID(r)), zap.Error(err))
		return true, &interception.PageError{Status: http.StatusBadGateway,
			Message: "Sign-in is not available right now. Please try again later.", Cause: err}
	}
	i.known.add(p.identifier)
	i.log.Info("lazy migration: user created in the IdP", zap.String("identifier", p.identifier),
		zap.String("request_id", interception.RequestID(r)))
	return false, nil
}

// knows asks the directory, with a cache of the users it knows. A failed
// lookup counts as unknown: the hooks are asked, and Create refuses to
// touch a user that exists after all.
func (i *Interceptor) knows(ctx context.Context, identifier string) bool {
	if i.known.has(identifier) {
		return true
	}
	ok, err := i.cfg.Directory.Known(ctx, identifier)
	if err != nil {
		i.log.Warn("lazy migration: the IdP's user store could not be asked", zap.Error(err))
		return false
	}
	if ok {
		i.known.add(identifier)
	}
	return ok
}

// beforeRegistration runs before_registration: the hooks may deny,
// redirect, or set and remove fields of the post before the IdP reads it.
func (i *Interceptor) beforeRegistration(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post) (bool, error) {
	out, ok := i.dispatch(r, events.BeforeRegistration, p, nil, func(op sandbox.Op) error {
		if err := checkRedirect(op); err != nil {
			return err
		}
		return checkField(p, op)
	})
	if !ok {
		return false, nil
	}
	if done, err := i.stop(w, r, next, p, out); done || err != nil {
		return done, err
	}
	if edited, changed := editForm(p, out.Ops); changed {
		interception.SetBody(r, edited)
	}
	return false, nil
}

// asPosted is p as the form its endpoint names reads it, when its fields
// made it another (a registration posted to the login endpoint); nil
// otherwise, or when that form's reading names nobody.
func (p *post) asPosted(prof Profile) *post {
	if p.classified == p.form || p.classified == NoForm {
		return nil
	}
	if len(requestEvents[p.classified]) == 0 {
		return nil
	}
	q := *p
	q.form, q.fields, q.identifier, q.carried = p.classified, prof.Fields(p.classified), "", false
	for _, name := range q.fields.Identifiers {
		if q.identifier = q.read(name, q.values.Get(name)); q.identifier != "" {
			break
		}
	}
	if q.identifier == "" {
		return nil
	}
	return &q
}
