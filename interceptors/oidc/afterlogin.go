package oidc

import (
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// loginGrants are the grants whose answer is a person's login: the
// tokens of a refresh, a client's own credentials or an exchange are not.
var loginGrants = map[string]bool{
	"authorization_code": true,
	"password":           true,
	"urn:ietf:params:oauth:grant-type:device_code": true,
	"urn:openid:params:grant-type:ciba":            true,
}

// afterLogin tells the after_login hooks of a login whose tokens are on
// their way to the client: the same event SAML logins raise. user is the
// person as the IdP identified them, in its verified tokens.
// An error is the outbox's refusal: the tokens must not go out then.
func (i *Interceptor) afterLogin(t *tokenRound) error {
	if !loginGrants[t.grant] {
		return nil
	}
	disp := i.cfg.Dispatcher
	if !disp.Wants(events.AfterLogin, t.clientID) {
		disp.Skip(events.AfterLogin, t.clientID, interception.RequestID(t.r))
		return nil
	}
	ev := events.New(events.AfterLogin, t.clientID, i.eventRequest(t.r))
	ev.User = tokenUser(t.idTok, t.atTok)
	data := map[string]any{"protocol": "oidc", "grant_type": t.grant}
	if t.idTok != nil {
		for _, c := range []string{"sid", "acr", "amr", "auth_time"} {
			if v, ok := t.idTok.Claims[c]; ok {
				data[c] = v
			}
		}
	}
	ev.Data = data
	if out := disp.Dispatch(t.r.Context(), ev, nil); out.Err != nil {
		return interception.Unavailablef(out.Err)
	}
	return nil
}
