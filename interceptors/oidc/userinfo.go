package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/sandbox"
)

// userinfoCall is one userinfo request: the access token it carries (as
// the client sent it), what idphooks remembers of it, and whether hooks
// may want the answer.
type userinfoCall struct {
	token    string
	entry    *swapEntry
	clientID string
	hooks    bool
}

// serveUserinfo swaps the access token back to the IdP's, then gives the
// userinfo answer the same claim edits hooks made to the ID token of that
// grant, followed by what before_userinfo hooks do. Signed (JWT) answers
// are verified and re-signed; JSON answers are rewritten in place.
func (i *Interceptor) serveUserinfo(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *Discovery) error {
	if r.Method == http.MethodHead {
		// No body to rewrite.
		if err := i.swapBearer(r); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	}
	u, err := i.readUserinfoRequest(r)
	if err != nil {
		return err
	}
	edits := u.entry != nil && len(u.entry.IDTokenEdits) > 0
	if !u.hooks && !edits && !i.rewritesIssuer(d) {
		// Hooks left out by their applications are still told of.
		i.cfg.Dispatcher.Skip(events.BeforeUserinfo, u.clientID, interception.RequestID(r))
		return next.ServeHTTP(w, r)
	}

	c, body, err := i.readUpstream(w, r, next, "userinfo response")
	if c == nil {
		return err
	}
	defer c.Release()
	claims, signed, err := i.readUserinfo(w, r, c, body)
	if err != nil {
		return err
	}
	if claims == nil {
		if r.Method == http.MethodOptions {
			c.WriteHeld()
			return nil
		}
		// Encrypted (JWE) or unknown: idphooks cannot read it, so it
		// passes as it is, and says so.
		i.log.Warn("userinfo response of unsupported type passed unchanged", zap.String("content_type", c.Header().Get("Content-Type")))
		c.WriteHeld()
		return nil
	}
	changed := false
	if u.entry != nil {
		changed = i.policy.Apply(claims, u.entry.IDTokenEdits)
	}
	// A token idphooks never saw issued (none comes from the front
	// channel while such hooks exist: see checkFrontChannel) and whose
	// client it cannot read is another application's.
	i.learnUserinfoClient(u, claims, signed)
	ops, denied, err := i.runUserinfoHooks(r, u, claims)
	if err != nil {
		if !errors.Is(err, events.ErrNotQueued) {
			i.log.Error("userinfo answer not given", zap.Error(err))
		}
		interception.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "please retry")
		return nil
	}
	if denied != nil {
		interception.KeepCORS(w, c.Header())
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		interception.WriteError(w, http.StatusForbidden, "access_denied", denied.Reason)
		return nil
	}
	if i.policy.Apply(claims, editsFor(ops, "userinfo")) {
		changed = true
	}
	if signed != nil && i.rewritesIssuer(d) {
		claims["iss"], changed = i.cfg.Issuer, true
	}
	if !changed {
		c.WriteHeld()
		return nil
	}
	return i.writeUserinfo(c, claims, signed != nil)
}

// readUserinfoRequest finds the access token (RFC 6750: the Authorization
// header, a form field or the query, exactly one of them) and swaps it
// back to the IdP's.
func (i *Interceptor) readUserinfoRequest(r *http.Request) (*userinfoCall, error) {
	hdr, err := bearer(r)
	if err != nil {
		return nil, err
	}
	fromHeader := hdr.token != ""
	query, form, err := interception.Params(r, i.cfg.MaxBody, "access_token")
	if err != nil {
		return nil, err
	}
	if fromHeader && len(form["access_token"])+len(query["access_token"]) > 0 {
		// The IdP may read another of them than idphooks.
		return nil, interception.RepeatedError(&interception.ErrRepeated{Name: "access_token"})
	}
	u := &userinfoCall{token: hdr.token}
	if !fromHeader {
		u.token = form.Get("access_token") + query.Get("access_token")
	}
	if u.token != "" {
		if u.entry, err = i.lookup(r.Context(), u.token); err != nil {
			return nil, err
		}
	}
	if e := u.entry; e != nil && e.Upstream != "" {
		switch {
		case fromHeader:
			hdr.set(r, e.Upstream)
		case form.Get("access_token") != "":
			if _, err := i.swapFormValues(r, form, "access_token"); err != nil {
				return nil, err
			}
		default:
			query.Set("access_token", e.Upstream)
			interception.SetQuery(r, query)
		}
	}
	if u.entry != nil {
		u.clientID = u.entry.ClientID
	}
	// With an unknown client, the answer is read whenever any userinfo
	// hook exists: the client is learnt from the token the IdP accepted.
	disp := i.cfg.Dispatcher
	u.hooks = disp.Wants(events.BeforeUserinfo, u.clientID) || (u.clientID == "" && disp.WantsEvent(events.BeforeUserinfo))
	return u, nil
}

// readUserinfo decodes the IdP's userinfo answer: a JSON object, or a
// signed JWT, verified. Claims are nil for a type idphooks cannot read.
func (i *Interceptor) readUserinfo(w http.ResponseWriter, r *http.Request, c *interception.Capture, body []byte) (map[string]any, *verified, error) {
	mt, _, _ := mime.ParseMediaType(c.Header().Get("Content-Type"))
	switch {
	case isPreflight(r, body):
		return nil, nil, nil
	case mt == "application/jwt" && bytes.Count(bytes.TrimSpace(body), []byte(".")) == 4:
		// An encrypted (JWE) userinfo answer: idphooks cannot read it.
		return nil, nil, nil
	}
	if mt != "application/jwt" && mt != "application/json" && mt != "" {
		// A client may read claims whatever the type says (many parse
		// the body as JSON, some take a bare JWS): an answer that reads
		// as one is treated as one, so a hook cannot be skipped by the
		// IdP (or a mapper, or a proxy) labelling it text/plain.
		switch trimmed := bytes.TrimSpace(body); {
		case len(trimmed) > 0 && trimmed[0] == '{':
			mt = "application/json"
		case looksLikeJWS(string(trimmed)):
			mt = "application/jwt"
		}
	}
	switch mt {
	case "application/jwt":
		signed, err := i.verify.Verify(r.Context(), string(bytes.TrimSpace(body)), false, interception.PublicOrigin(r))
		if err != nil {
			return nil, nil, i.badGateway(w, c, "signed userinfo response failed verification", err)
		}
		return maps.Clone(signed.Claims), signed, nil
	case "application/json", "":
		claims, err := decodeObject(body)
		if err != nil {
			return nil, nil, i.badGateway(w, c, "userinfo response is not a JSON object", fmt.Errorf("decode: %v", err))
		}
		return claims, nil, nil
	}
	return nil, nil, nil
}

// learnUserinfoClient learns the client from the token the IdP accepted
// when the token path did not remember it: the JWT's azp or client_id, or
// a signed answer's audience.
func (i *Interceptor) learnUserinfoClient(u *userinfoCall, claims map[string]any, signed *verified) {
	if u.clientID == "" {
		sent := u.token
		if u.entry != nil && u.entry.Upstream != "" {
			sent = u.entry.Upstream
		}
		u.clientID = bearerClientID(sent)
		if aud, ok := claims["aud"].(string); ok && u.clientID == "" && signed != nil {
			u.clientID = aud
		}
		u.hooks = i.cfg.Dispatcher.Wants(events.BeforeUserinfo, u.clientID)
	}
}

// runUserinfoHooks raises before_userinfo.
func (i *Interceptor) runUserinfoHooks(r *http.Request, u *userinfoCall, claims map[string]any) ([]sandbox.Op, *interception.Denied, error) {
	if !u.hooks {
		i.cfg.Dispatcher.Skip(events.BeforeUserinfo, u.clientID, interception.RequestID(r))
		return nil, nil, nil
	}
	ev := events.New(events.BeforeUserinfo, u.clientID, i.eventRequest(r))
	ev.User = tokenUser(&verified{Claims: claims}, nil)
	ev.Data = map[string]any{"client_id": u.clientID, "userinfo": plainMap(claims)}
	out := i.cfg.Dispatcher.Dispatch(r.Context(), ev, i.policy.Check)
	if out.Err != nil {
		return nil, nil, out.Err
	}
	if out.Denied {
		return nil, &interception.Denied{Reason: out.Reason}, nil
	}
	return out.Ops, nil, nil
}

// writeUserinfo sends the edited claims, re-signed when the IdP signed
// them.
func (i *Interceptor) writeUserinfo(c *interception.Capture, claims map[string]any, signed bool) error {
	if signed {
		tok, _, err := i.cfg.Signer.SignJWT(claims, "JWT")
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("signing userinfo: %w", err))
		}
		c.WriteBody("application/jwt", []byte(tok))
		return nil
	}
	out, err := json.Marshal(claims)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	c.WriteBody("application/json", out)
	return nil
}
