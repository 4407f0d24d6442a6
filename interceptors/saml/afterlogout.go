package saml

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// afterLogout raises after_logout for a LogoutRequest the IdP sends an SP
// (the session ended at the IdP: its own logout page, another SP's
// logout, an administrator), once verified: the person is the NameID the
// SP knows (restored when a hook changed it at login), the session its
// SessionIndexes, the application the SP the NameID was issued for
// (SPNameQualifier). A LogoutResponse raises nothing: it names no one,
// and the LogoutRequests of the same logout do. An error is the outbox's
// refusal: the SP must not be told of a logout the receivers are not.
func (i *Interceptor) afterLogout(r *http.Request, l *Logout) error {
	if l.Kind != KindLogoutRequest {
		return nil
	}
	m := l.Model()
	if m.NameID == nil {
		return nil
	}
	if err := i.freshLogout(l); err != nil {
		// Passed on all the same: the SP judges the message.
		i.log.Debug("SAML LogoutRequest not issued just now: no after_logout", zap.Error(err))
		return nil
	}
	disp, app := i.cfg.Dispatcher, m.NameID.SPNameQualifier
	if !disp.Wants(events.AfterLogout, app) {
		disp.Skip(events.AfterLogout, app, interception.RequestID(r))
		return nil
	}
	ev := events.New(events.AfterLogout, app, i.eventRequest(r))
	ev.User = map[string]any{"sub": m.NameID.Value, "name_id_format": m.NameID.Format}
	data := map[string]any{"protocol": "saml", "issuer": m.Issuer}
	if len(m.SessionIndexes) > 0 {
		data["session_indexes"] = anySlice(m.SessionIndexes)
	}
	ev.Data = data
	return disp.Dispatch(r.Context(), ev, nil).Err
}

// logoutFreshness is how long before the IdP's answer that carries it a
// LogoutRequest may have been issued and still be this logout's.
const logoutFreshness = 5 * time.Minute

// freshLogout tells a LogoutRequest the IdP has just made from one it
// made long ago and passes on again. The IdP's answers are where
// idphooks finds them, but an answer may carry what the request put
// there: a redirect to a URL the client chose (a post_logout_redirect_uri
// registered with a wildcard, say) takes along a query holding a
// LogoutRequest signed by the IdP and captured from a browser's address
// bar, which still verifies; and Keycloak's LogoutRequests carry no
// NotOnOrAfter, so nothing else ends their validity. An IssueInstant
// more than logoutFreshness (and the leeway) old, or ahead of the clock
// beyond the leeway, or none, is no logout the IdP made now.
func (i *Interceptor) freshLogout(l *Logout) error {
	v := l.root.SelectAttrValue("IssueInstant", "")
	if v == "" {
		return errors.New("no IssueInstant")
	}
	at, err := parseTime(v)
	if err != nil {
		return err
	}
	now, leeway := i.cfg.Now(), max(i.cfg.Leeway, 0)
	if at.Before(now.Add(-logoutFreshness-leeway)) || at.After(now.Add(leeway)) {
		return fmt.Errorf("IssueInstant %s, %s from now", v, at.Sub(now).Round(time.Second))
	}
	return nil
}
