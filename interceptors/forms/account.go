package forms

import (
	"context"
	"errors"
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

// remember notes who the IdP let in under r's session, from a login or a
// registration it accepted. A login post naming someone in a flow whose
// username step the IdP already took (its password step, which reads no
// username) is one whose name the IdP ignored: the session then names
// nobody.
func (i *Interceptor) remember(r *http.Request, p *post) {
	if i.sessions == nil || p.identifier == "" || (p.form != Login && p.form != Registration) {
		return
	}
	session, flow := i.sessions.FlowKey(r)
	if !p.carried && p.form == Login && i.flows.has(flowKey(flow)) {
		i.flows.doubt(sessionKey(session))
		return
	}
	i.flows.remember(sessionKey(session), p.identifier)
}

// identified notes the identifier the IdP took at the username step of
// r's flow, for its password step.
func (i *Interceptor) identified(r *http.Request, p *post, page *Page) {
	if i.sessions == nil || p.form != Login || p.identifier == "" || p.carried || !i.sessions.Identified(r, page) {
		return
	}
	_, flow := i.sessions.FlowKey(r)
	i.flows.remember(flowKey(flow), p.identifier)
}

// carried is the identifier the IdP took at the username step of r's
// flow; "" for none.
func (i *Interceptor) carried(r *http.Request) string {
	if i.sessions == nil {
		return ""
	}
	_, flow := i.sessions.FlowKey(r)
	return i.flows.who(flowKey(flow))
}

// sessionKey and flowKey keep the two kinds of keys apart in one memory.
func sessionKey(k string) string {
	if k == "" {
		return ""
	}
	return "session " + k
}

func flowKey(k string) string {
	if k == "" {
		return ""
	}
	return "flow " + k
}

// flowUser is the customer of r's flow as events show users: the IdP's
// own record when the directory can tell (sub, username, email), else the
// identifier they logged in with; nil when no login of the flow was seen.
func (i *Interceptor) flowUser(ctx context.Context, r *http.Request) (identifier string, user map[string]any) {
	if i.sessions == nil {
		return "", nil
	}
	session, _ := i.sessions.FlowKey(r)
	identifier = i.flows.who(sessionKey(session))
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
	switch {
	case ok && out.Err != nil:
		return &interception.PageError{Status: http.StatusServiceUnavailable,
			Message: "This step could not be completed right now; please try again in a moment.", Cause: out.Err}
	case ok && out.Denied:
		// A hook configured to run sync failed with on_error deny: the
		// change is made, the IdP's next page does not reach the browser.
		return &interception.PageError{Status: http.StatusForbidden, Message: shown(out),
			Cause: errors.New(id + " hook failed with on_error deny")}
	}
	c.WriteHeld()
	return nil
}

// checkSubject holds the user an account event names against the one
// the IdP's answer says it signed in: when they differ (the login post
// named someone the IdP did not log in, on a node that had no memory
// of the session to doubt it by), the event names the IdP's user by id
// alone.
func (i *Interceptor) checkSubject(r *http.Request, h http.Header, identifier string, user map[string]any) (string, map[string]any) {
	subs, ok := i.cfg.Profile.(Subjects)
	if !ok {
		return identifier, user
	}
	sub := subs.Subject(h)
	if sub == "" {
		return identifier, user
	}
	if known, _ := user["sub"].(string); known == sub {
		return identifier, user
	} else if known != "" || user == nil {
		if known != "" {
			i.log.Warn("account event: the IdP signed in another user than the session's login named; the event names the IdP's",
				zap.String("request_id", interception.RequestID(r)))
		}
		return "", map[string]any{"sub": sub}
	}
	// No directory: the name cannot be checked against the id.
	return identifier, user
}
