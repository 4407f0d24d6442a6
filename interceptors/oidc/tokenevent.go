package oidc

import (
	"errors"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/sandbox"
)

// runTokenHooks raises after_token_refresh (refresh grant) then before_token.
func (i *Interceptor) runTokenHooks(t *tokenRound) ([]sandbox.Op, error) {
	ctx, grant, clientID := t.r.Context(), t.grant, t.clientID
	disp := i.cfg.Dispatcher
	if clientID == "" && (disp.HasFilteredHook(events.BeforeToken) || (grant == "refresh_token" && disp.HasFilteredHook(events.AfterTokenRefresh))) {
		// Neither the request (as idphooks reads it) nor the tokens name
		// the client: hooks limited to some applications cannot be
		// skipped on that account.
		return nil, errors.New("token answer for an unknown client while hooks are limited to some applications")
	}
	refresh := grant == "refresh_token" && disp.Wants(events.AfterTokenRefresh, clientID)
	before := disp.Wants(events.BeforeToken, clientID)
	skipTokenEvents(disp, t, clientID, refresh, before)
	if !refresh && !before {
		return nil, nil
	}
	user := tokenUser(t.idTok, t.atTok)
	req := i.eventRequest(t.r)
	if refresh {
		ev := events.New(events.AfterTokenRefresh, clientID, req)
		// Each event owns its Data (Map adds to it).
		ev.User, ev.Data = user, tokenEventData(t)
		out := disp.Dispatch(ctx, ev, nil)
		if out.Err != nil {
			return nil, interception.Unavailablef(out.Err)
		}
		if out.Denied {
			return nil, &interception.Denied{Reason: out.Reason}
		}
	}
	if !before {
		return nil, nil
	}
	ev := events.New(events.BeforeToken, clientID, req)
	ev.User, ev.Data = user, tokenEventData(t)
	out := disp.Dispatch(ctx, ev, i.policy.Check)
	if out.Err != nil {
		return nil, interception.Unavailablef(out.Err)
	}
	if out.Denied {
		return nil, &interception.Denied{Reason: out.Reason}
	}
	return out.Ops, nil
}

// skipTokenEvents tells the dispatcher of the token events of t that no
// hook wants for client, so the hooks their applications leave out are
// counted, traced and logged rather than silently not run.
func skipTokenEvents(disp *events.Dispatcher, t *tokenRound, client string, refresh, before bool) {
	if !before {
		disp.Skip(events.BeforeToken, client, interception.RequestID(t.r))
	}
	if t.grant == "refresh_token" && !refresh {
		disp.Skip(events.AfterTokenRefresh, client, interception.RequestID(t.r))
	}
}

// tokenEventData is the event's own part. It never carries the tokens
// themselves, the client secret, the code or a password.
func tokenEventData(t *tokenRound) map[string]any {
	form, resp, idTok, atTok := t.params, t.resp, t.idTok, t.atTok
	data := make(map[string]any, 8+events.CommonFields)
	data["grant_type"] = t.grant
	data["client_id"] = t.clientID
	data["access_token_format"] = "opaque"
	if atTok != nil {
		data["access_token_format"] = "jwt"
	}
	scope := ""
	if resp != nil {
		scope = resp.Scope
	}
	if scope == "" {
		scope = form.Get("scope")
	}
	data["scope"] = scope
	if res := form["resource"]; len(res) > 0 {
		data["resource"] = append([]string(nil), res...)
	}
	// RFC 8693 allows several audiences, like RFC 8707 resources.
	switch aud := form["audience"]; len(aud) {
	case 0:
	case 1:
		data["audience"] = aud[0]
	default:
		data["audience"] = append([]string(nil), aud...)
	}
	// The claims go as decoded (numbers as json.Number): the sandbox
	// copies them into the hook's own objects, nothing shares them.
	if idTok != nil {
		data["id_token"] = idTok.Claims
	} else {
		data["id_token"] = nil
	}
	if atTok != nil {
		data["access_token"] = atTok.Claims
	} else {
		data["access_token"] = nil
	}
	return data
}

// protocolClaims are left out of event.user: they describe the token, not
// the person.
var protocolClaims = map[string]bool{
	"iss": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"nonce": true, "at_hash": true, "c_hash": true, "s_hash": true, "azp": true,
	"sid": true, "auth_time": true, "acr": true, "amr": true, "typ": true,
	"session_state": true, "client_id": true, "scope": true, "cnf": true,
}

func tokenUser(idTok, atTok *verified) map[string]any {
	src := map[string]any{}
	switch {
	case idTok != nil:
		src = idTok.Claims
	case atTok != nil:
		src = atTok.Claims
	}
	user := make(map[string]any, len(src))
	for k, v := range src {
		if !protocolClaims[k] {
			user[k] = v
		}
	}
	return user
}
