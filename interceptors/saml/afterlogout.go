package saml

import (
	"net/http"

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
