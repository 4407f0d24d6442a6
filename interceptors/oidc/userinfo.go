package oidc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
)

// serveUserinfo swaps the access token back to the IdP's, then gives the
// userinfo answer the same claim edits hooks made to the ID token of that
// grant, followed by what before_userinfo hooks do. Signed (JWT) answers
// are verified and re-signed; JSON answers are rewritten in place.
func (i *Interceptor) serveUserinfo(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	ctx := r.Context()
	if r.Method == http.MethodHead {
		// No body to rewrite.
		i.swapBearer(r)
		return next.ServeHTTP(w, r)
	}
	tok, fromHeader := bearer(r)
	var form url.Values
	if !fromHeader {
		f, err := i.readForm(r)
		if err != nil {
			return err
		}
		form = f
		if f != nil {
			tok = f.Get("access_token")
		}
		if tok == "" {
			// RFC 6750 §2.3, discouraged but in use.
			tok = r.URL.Query().Get("access_token")
		}
	}
	var entry *swapEntry
	if tok != "" {
		entry = i.lookup(ctx, tok)
	}
	if entry != nil && entry.Upstream != "" {
		switch {
		case fromHeader:
			r.Header.Set("Authorization", "Bearer "+entry.Upstream)
		case form != nil && form.Get("access_token") != "":
			i.swapFormValues(r, form, "access_token")
		default:
			_ = i.swapQuery(r, "access_token")
		}
	}
	clientID := ""
	if entry != nil {
		clientID = entry.ClientID
	}
	// With an unknown client, the answer is read whenever any userinfo
	// hook exists: the client is learnt from the token the IdP accepted.
	hooks := i.cfg.Dispatcher.Wants(events.BeforeUserinfo, clientID) ||
		(clientID == "" && i.cfg.Dispatcher.WantsEvent(events.BeforeUserinfo))
	edits := entry != nil && len(entry.IDTokenEdits) > 0
	d, err := i.up.Discovery(ctx)
	if err != nil {
		return i.badGateway("upstream discovery unavailable", err)
	}
	if !hooks && !edits && !i.rewritesIssuer(d) {
		return next.ServeHTTP(w, r)
	}

	c, body, err := i.callUpstream(w, r, next)
	if c == nil {
		return err
	}
	defer c.release()
	if err != nil {
		return i.badGateway("userinfo response unusable", err)
	}
	mt, _, _ := mime.ParseMediaType(c.header.Get("Content-Type"))

	var claims map[string]any
	var signed *verified
	switch mt {
	case "application/jwt":
		if signed, err = i.verify.Verify(ctx, string(bytes.TrimSpace(body)), false, publicOrigin(r)); err != nil {
			return i.badGateway("signed userinfo response failed verification", err)
		}
		claims = maps.Clone(signed.Claims)
	case "application/json", "":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&claims); err != nil || claims == nil {
			return i.badGateway("userinfo response is not a JSON object", fmt.Errorf("decode: %v", err))
		}
	default:
		// Encrypted (JWE) or unknown: idphooks cannot read it, so it
		// passes as it is, and says so.
		i.log.Warn("userinfo response of unsupported type passed unchanged", zap.String("content_type", mt))
		c.writeTo(w)
		return nil
	}

	changed := false
	if entry != nil {
		changed = i.policy.apply(claims, entry.IDTokenEdits)
	}
	if clientID == "" {
		sent := tok
		if entry != nil && entry.Upstream != "" {
			sent = entry.Upstream
		}
		clientID = bearerClientID(sent)
		if clientID == "" {
			if aud, ok := claims["aud"].(string); ok && signed != nil {
				clientID = aud
			}
		}
		hooks = i.cfg.Dispatcher.Wants(events.BeforeUserinfo, clientID)
	}
	if hooks {
		ev := events.New(events.BeforeUserinfo, clientID, i.eventRequest(r))
		ev.User = tokenUser(&verified{Claims: claims}, nil)
		ev.Data = map[string]any{"client_id": clientID, "userinfo": plainMap(claims)}
		out := i.cfg.Dispatcher.Dispatch(ctx, ev, i.policy.check)
		if out.Denied {
			keepCORS(w, c.header)
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
			protocolError(w, http.StatusForbidden, "access_denied", out.Reason)
			return nil
		}
		if i.policy.apply(claims, editsFor(out.Ops, "userinfo")) {
			changed = true
		}
	}

	if signed != nil {
		if i.rewritesIssuer(d) {
			claims["iss"], changed = i.cfg.Issuer, true
		}
		if !changed {
			c.writeTo(w)
			return nil
		}
		tok, _, err := i.cfg.Signer.SignJWT(claims, "JWT")
		if err != nil {
			return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("signing userinfo: %w", err))
		}
		c.writeBody(w, "application/jwt", []byte(tok))
		return nil
	}
	if !changed {
		c.writeTo(w)
		return nil
	}
	out, err := json.Marshal(claims)
	if err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, err)
	}
	c.writeBody(w, "application/json", out)
	return nil
}
