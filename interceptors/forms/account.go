package forms

import (
	"context"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// accountEvent is the event an account step's success raises.
var accountEvent = map[Form]string{
	UpdatePassword: events.AfterPasswordReset,
	ConfigureOTP:   events.AfterMFAChange,
	UpdateProfile:  events.AfterAccountUpdate,
	DeleteAccount:  events.AfterAccountDeletion,
}

// remember notes who the IdP let in under r's flow, from a login or a
// registration it accepted.
func (i *Interceptor) remember(r *http.Request, p *post) {
	if i.sessions == nil || p.identifier == "" || (p.form != Login && p.form != Registration) {
		return
	}
	i.flows.remember(i.sessions.FlowKey(r), p.identifier)
}

// flowUser is the customer of r's flow as events show users: the IdP's
// own record when the directory can tell (sub, username, email), else the
// identifier they logged in with; nil when no login of the flow was seen.
func (i *Interceptor) flowUser(ctx context.Context, r *http.Request) (identifier string, user map[string]any) {
	if i.sessions == nil {
		return "", nil
	}
	identifier = i.flows.who(i.sessions.FlowKey(r))
	if identifier == "" {
		return "", nil
	}
	if res, ok := i.cfg.Directory.(Resolver); ok {
		u, err := res.User(ctx, identifier)
		if err == nil && u != nil {
			return identifier, u
		}
		if err != nil {
			i.log.Warn("account event: the IdP's user store could not be asked who the customer is; the event names the login's identifier",
				zap.String("request_id", interception.RequestID(r)), zap.Error(err))
		}
	}
	if strings.Contains(identifier, "@") {
		return identifier, map[string]any{"email": identifier}
	}
	return identifier, map[string]any{"username": identifier}
}

// account raises the async event of an account step the IdP accepted.
// user is who the flow's login named, found before the post when the
// step removes them. An event the queue refuses keeps the IdP's answer
// from the browser, as a login's after_login does: nothing the customer
// sees as done goes unrecorded.
func (i *Interceptor) account(w http.ResponseWriter, r *http.Request, c *interception.Capture, p *post, identifier string, user map[string]any) error {
	id := accountEvent[p.form]
	if !i.cfg.Dispatcher.WantsEvent(id) {
		c.WriteHeld()
		return nil
	}
	out, ok := i.dispatch(r, id, p, func(ev *events.Event) {
		if identifier != "" {
			ev.Data["identifier"] = identifier
		}
		if user != nil {
			ev.User = user
		}
		if p.form == ConfigureOTP {
			ev.Data["mfa_type"], ev.Data["action"] = "totp", "added"
		}
	}, nil)
	if ok && out.Denied {
		return &interception.PageError{Status: http.StatusServiceUnavailable,
			Message: "This step could not be completed right now; please try again in a moment.", Cause: out.Err}
	}
	c.WriteHeld()
	return nil
}
