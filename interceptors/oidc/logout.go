package oidc

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	xhtml "golang.org/x/net/html"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// logoutEvent prepares the after_logout event of an end-session request
// whose id_token_hint (as the IdP receives it: swapped back to its own)
// verifies with the IdP's keys and names a client some hook or receiver
// wants; nil otherwise. A hint that does not verify raises nothing: the
// event would tell receivers (Shared Signals' session-revoked among
// them) that a session of whoever the token names has ended, and an
// unverified token names whoever its sender likes. A request without a
// hint raises nothing either: nothing says whose session it was.
func (i *Interceptor) logoutEvent(r *http.Request, hint string) *pendingLogout {
	disp := i.cfg.Dispatcher
	if hint == "" || !disp.WantsEvent(events.AfterLogout) {
		return nil
	}
	tok, err := i.verify.VerifyHint(r.Context(), hint, interception.PublicOrigin(r))
	if err == nil {
		err = i.checkHint(tok, time.Now())
	}
	if err != nil {
		i.log.Debug("id_token_hint is not a verified ID token of the IdP's: no after_logout",
			zap.String("request_id", interception.RequestID(r)), zap.Error(err))
		return nil
	}
	client := tokenClientID(tok, nil)
	if !disp.Wants(events.AfterLogout, client) {
		disp.Skip(events.AfterLogout, client, interception.RequestID(r))
		return nil
	}
	key := logoutKey(tok, client)
	if i.ended.seen(key, time.Now()) {
		i.log.Debug("this session's logout raised after_logout already: not again",
			zap.String("request_id", interception.RequestID(r)))
		return nil
	}
	ev := events.New(events.AfterLogout, client, i.eventRequest(r))
	ev.User = tokenUser(tok, nil)
	data := map[string]any{"protocol": "oidc", "client_id": client}
	if sid, ok := tok.Claims["sid"].(string); ok && sid != "" {
		data["sid"] = sid
	}
	ev.Data = data
	return &pendingLogout{ev: ev, key: key, until: numericDate(tok.Claims["exp"]).Add(i.cfg.IDTokenGrace)}
}

// pendingLogout is the after_logout of an end-session request, raised
// once the IdP has ended the session, and what marks that session's
// logout as raised then.
type pendingLogout struct {
	ev    *events.Event
	key   [sha256.Size]byte
	until time.Time
}

// checkHint tells an ID token from the IdP's other signed tokens, and a
// hint of a logout from an old token replayed. IdPs sign access tokens,
// back-channel logout tokens and ID tokens with the same keys, and some
// end sessions on any of them (the zitadel OP takes a JWT access token
// as id_token_hint and ends the user's sessions): an access token goes to
// every resource server, and one without a sid would have receivers end
// every session of the user. A hint past its exp by more than
// IDTokenGrace is refused as well: idphooks keeps a rewritten ID token's
// swap that long, so its own tokens can raise nothing later either, and
// an ID token leaked in a URL long ago must not end sessions begun since
// (with a sid-less token, all of them) each time it is replayed.
func (i *Interceptor) checkHint(tok *verified, now time.Time) error {
	c := tok.Claims
	switch typ := strings.ToLower(tok.Typ()); {
	case strings.HasSuffix(typ, "at+jwt"), strings.HasSuffix(typ, "logout+jwt"):
		return fmt.Errorf("a %s token, not an ID token", typ)
	}
	if t, ok := c["typ"].(string); ok && !strings.EqualFold(t, "ID") {
		// Keycloak's token types: Bearer, Refresh, Logout, ID.
		return fmt.Errorf("a %q token, not an ID token", t)
	}
	if _, ok := c["events"]; ok {
		return errors.New("a security event (a back-channel logout token), not an ID token")
	}
	for _, k := range []string{"scope", "scp"} {
		if _, ok := c[k]; ok {
			return fmt.Errorf("a token with a %s claim (an access token), not an ID token", k)
		}
	}
	if _, ok := c["client_id"]; ok && c["azp"] == nil {
		// RFC 9068 §2.2: a JWT access token names its client so; an ID
		// token by aud and azp.
		return errors.New("a token with a client_id claim and no azp (an access token), not an ID token")
	}
	if s, _ := c["sub"].(string); s == "" {
		return errors.New("no sub")
	}
	exp := numericDate(c["exp"])
	if exp.IsZero() {
		return errors.New("no exp (an ID token has one)")
	}
	if now.After(exp.Add(i.cfg.IDTokenGrace)) {
		return fmt.Errorf("expired at %s, more than %s ago", exp.UTC().Format(time.RFC3339), i.cfg.IDTokenGrace)
	}
	return nil
}

// raisingLogout wraps next so that ev is raised once the IdP has ended
// the session: it answered the end-session request with a redirect (to
// the post_logout_redirect_uri, or a page of its own) or a success that
// is not a page asking the user to confirm (npm oidc-provider always
// asks, Keycloak without a hint: the logout then happens at the
// confirmation's post, which carries no hint, and raises nothing). The
// event is queued before the answer goes out, so it is not lost once
// the client has it; a queue that cannot take it fails the request with
// a 503 page, and a retry of the logout raises it again.
func (i *Interceptor) raisingLogout(next caddyhttp.Handler, l *pendingLogout) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		// A page is read to tell a confirmation from a goodbye.
		r.Header.Set("Accept-Encoding", "identity")
		if !i.ended.claim(l.key, l.until, time.Now()) {
			// The same logout, sent again while the first is under way
			// (or raised since): the first raises it.
			return next.ServeHTTP(w, r)
		}
		raised := false
		defer func() {
			if !raised {
				i.ended.release(l.key)
			}
		}()
		c := interception.NewCapture(w, i.cfg.MaxBody, loggedOut).OnOverflow(interception.Stream)
		defer c.Release()
		err := c.Serve(next, r)
		if err != nil || !c.Held() {
			// An error, or an answer that ends no session (or a page too
			// large to read), streamed as it came.
			return err
		}
		if c.Status() < 300 && asksToConfirm(c.Header(), c.Raw()) {
			c.WriteHeld()
			return nil
		}
		if out := i.cfg.Dispatcher.Dispatch(r.Context(), l.ev, nil); out.Err != nil {
			return &interception.PageError{Status: http.StatusServiceUnavailable,
				Message: "The sign-out could not be recorded. Please try again.", Cause: out.Err}
		}
		raised = true
		c.WriteHeld()
		return nil
	})
}

// loggedOut holds the answers that may end a session: a 2xx or a 3xx.
func loggedOut(status int, _ http.Header) bool { return status >= 200 && status < 400 }

// asksToConfirm tells a logout confirmation page: HTML holding a form
// that posts (oidc-provider's "Do you want to sign-out?", Keycloak's "Do
// you want to log out?"), which a goodbye page does not.
func asksToConfirm(h http.Header, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt != "text/html" && mt != "application/xhtml+xml" {
		return false
	}
	if enc := h.Get("Content-Encoding"); enc != "" && enc != "identity" {
		// Unreadable: taken for a confirmation, since raising a logout
		// that may not happen is the worse mistake.
		return true
	}
	z := xhtml.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return false
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if !bytes.Equal(name, []byte("form")) {
				continue
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if bytes.Equal(k, []byte("method")) && strings.EqualFold(string(v), "post") {
					return true
				}
			}
		}
	}
}
