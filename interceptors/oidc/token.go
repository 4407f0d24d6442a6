package oidc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/keys"
)

// tokenExchange is the RFC 8693 grant type; its subject and actor tokens may
// be tokens idphooks issued.
const tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// serveToken handles the token endpoint: every grant type goes through
// before_token (and after_token_refresh for refreshes) when a hook listens,
// and the rewritten tokens are re-signed with idphooks' keys.
func (i *Interceptor) serveToken(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *Discovery) error {
	form, err := i.readForm(r)
	if err != nil {
		return err
	}
	if form == nil {
		// Not a form POST: the IdP should refuse it, but whatever it
		// answers is looked at like any token response (fail closed).
		form = url.Values{}
	}
	i.swapFormValues(r, form, "subject_token", "actor_token")
	grant := form.Get("grant_type")
	clientID := requestClientID(r, form)
	if !i.wantsToken(grant, clientID) && !i.rewritesIssuer(d) {
		return next.ServeHTTP(w, r)
	}

	c, body, err := i.callUpstream(w, r, next)
	if c == nil {
		return err
	}
	defer c.release()
	keepCORS(w, c.header)
	if errors.Is(err, errTooLarge) {
		i.log.Error("upstream token response exceeds the size limit", zap.Int64("max_body", i.cfg.MaxBody))
		protocolError(w, http.StatusBadGateway, "server_error", "identity provider response too large")
		return nil
	}
	var tr []byte
	if err == nil {
		tr, err = i.rewriteTokenResponse(r, body, form, grant, clientID, d)
	}
	if err != nil {
		var denied *deniedError
		if errors.As(err, &denied) {
			protocolError(w, http.StatusBadRequest, "access_denied", denied.reason)
			return nil
		}
		var unavailable *unavailableError
		if errors.As(err, &unavailable) {
			i.log.Error("token response not issued", zap.Error(unavailable.err))
			protocolError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "please retry")
			return nil
		}
		i.log.Error("upstream token response rejected", zap.String("grant_type", grant), zap.Error(err))
		protocolError(w, http.StatusBadGateway, "server_error", "identity provider returned an unusable token response")
		return nil
	}
	if tr == nil {
		c.writeTo(w)
		return nil
	}
	c.writeBody(w, "application/json", tr)
	return nil
}

type deniedError struct{ reason string }

func (e *deniedError) Error() string { return "denied: " + e.reason }

type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }

func (i *Interceptor) wantsToken(grant, clientID string) bool {
	d := i.cfg.Dispatcher
	// Userinfo hooks limited to some applications need to know, later,
	// which client a token belongs to: remember it from here.
	if d.HasFilteredHook(events.BeforeUserinfo) {
		return true
	}
	if grant == "refresh_token" && d.Wants(events.AfterTokenRefresh, clientID) {
		return true
	}
	if d.Wants(events.BeforeToken, clientID) {
		return true
	}
	// The client is not always known before the answer (client assertions
	// with no client_id): then any hook on the event is reason enough.
	return clientID == "" && (d.WantsEvent(events.BeforeToken) || d.WantsEvent(events.AfterTokenRefresh))
}

// rewriteTokenResponse verifies the upstream tokens, runs the hooks and
// returns the new body, or nil when nothing changed.
func (i *Interceptor) rewriteTokenResponse(r *http.Request, body []byte, form url.Values, grant, clientID string, d *Discovery) ([]byte, error) {
	ctx := r.Context()
	resp, err := tokenFields(body)
	if err != nil {
		return nil, err
	}
	at, idt := resp.AccessToken, resp.IDToken
	if at == "" {
		return nil, errors.New("token response has no access_token string")
	}

	var idTok, atTok *verified
	if strings.Count(idt, ".") == 4 {
		// An encrypted (JWE) ID token: idphooks cannot read it, so it
		// passes unchanged and hooks see no ID token claims.
		i.log.Warn("encrypted ID token passed unchanged; hooks cannot edit it")
		idt = ""
	}
	if idt != "" {
		if idTok, err = i.verify.Verify(ctx, idt, true, publicOrigin(r)); err != nil {
			return nil, fmt.Errorf("upstream ID token failed verification: %w", err)
		}
		if clientID != "" && !audienceHas(idTok.Claims["aud"], clientID) {
			return nil, fmt.Errorf("upstream ID token audience does not name client %q", clientID)
		}
	}
	if looksLikeJWS(at) {
		if atTok, err = i.verify.Verify(ctx, at, false, publicOrigin(r)); err != nil {
			// Access tokens for other resource servers may be signed with
			// keys the IdP does not publish; idphooks never re-signs what
			// it could not verify, so such a token is opaque to it.
			i.log.Debug("access token not verifiable with upstream keys; treated as opaque", zap.Error(err))
			atTok = nil
		}
	}
	if atTok != nil && clientID != "" {
		// Hooks were chosen for clientID: the tokens must be its own.
		for _, k := range []string{"azp", "client_id"} {
			if c, _ := atTok.Claims[k].(string); c != "" && c != clientID {
				return nil, fmt.Errorf("upstream access token %s %q is not the requesting client %q", k, c, clientID)
			}
		}
	}
	if clientID == "" {
		clientID = tokenClientID(idTok, atTok)
	}
	if atTok != nil && isDPoP(resp, atTok) {
		// A DPoP proof hashes the access token (ath): a rewritten one
		// would no longer match the client's proofs.
		i.log.Warn("DPoP-bound access token passed unchanged; hooks cannot edit it", zap.String("client_id", clientID))
		atTok = nil
	}

	ops, err := i.runTokenHooks(ctx, r, form, grant, clientID, resp, idTok, atTok)
	if err != nil {
		return nil, err
	}
	idEdits := editsFor(ops, "idToken")
	atEdits := editsFor(ops, "accessToken")
	if atTok == nil && len(atEdits) > 0 {
		i.log.Warn("hook set access token claims, but the access token is opaque: edits ignored",
			zap.String("client_id", clientID), zap.Int("edits", len(atEdits)))
	}

	issuer := ""
	if i.rewritesIssuer(d) {
		issuer = i.cfg.Issuer
	}
	newAT, atChanged := at, false
	if atTok != nil {
		claims := maps.Clone(atTok.Claims)
		changed := i.policy.apply(claims, atEdits)
		if issuer != "" {
			claims["iss"], changed = issuer, true
		}
		if changed {
			typ := atTok.Typ()
			if typ == "" {
				typ = "JWT"
			}
			if newAT, _, err = i.cfg.Signer.SignJWT(claims, typ); err != nil {
				return nil, &unavailableError{fmt.Errorf("signing access token: %w", err)}
			}
			atChanged = true
		}
	}
	newID := idt
	if idTok != nil {
		claims := maps.Clone(idTok.Claims)
		changed := i.policy.apply(claims, idEdits)
		if issuer != "" {
			claims["iss"], changed = issuer, true
		}
		if _, ok := claims["at_hash"]; ok && atChanged {
			changed = true
		}
		if changed {
			typ := idTok.Typ()
			if typ == "" {
				typ = "JWT"
			}
			upAlg, _ := idTok.Header["alg"].(string)
			if newID, err = i.signIDToken(claims, typ, newAT, form.Get("code"), upAlg); err != nil {
				return nil, &unavailableError{fmt.Errorf("signing ID token: %w", err)}
			}
		}
	}

	if err := i.rememberTokens(ctx, resp, at, newAT, atTok, idt, newID, idTok, clientID, idEdits); err != nil {
		return nil, err
	}
	if newAT == at && newID == idt {
		return nil, nil
	}
	return spliceTokens(body, resp, newAT, newID), nil
}

// signIDToken signs an ID token whose at_hash and c_hash are recomputed:
// they bind it to the tokens beside it and use the hash of the ID token's
// own algorithm, now ours. Should a key rotation change the algorithm
// between hashing and signing, it hashes and signs once more.
func (i *Interceptor) signIDToken(claims map[string]any, typ, accessToken, code, upstreamAlg string) (string, error) {
	alg := i.cfg.Signer.Algorithm()
	for attempt := 0; ; attempt++ {
		if _, ok := claims["at_hash"]; ok {
			claims["at_hash"] = keys.HashClaim(alg, accessToken)
		}
		if _, ok := claims["c_hash"]; ok {
			switch {
			case code != "":
				claims["c_hash"] = keys.HashClaim(alg, code)
			case keys.HashClaim(alg, "x") != keys.HashClaim(upstreamAlg, "x"):
				// No code to hash again (a refresh) and another hash
				// than the IdP's: a stale c_hash would be wrong; it
				// only matters in front-channel responses anyway.
				delete(claims, "c_hash")
			}
		}
		tok, used, err := i.cfg.Signer.SignJWT(claims, typ)
		if err != nil || used == alg || attempt == 1 {
			return tok, err
		}
		alg = used
	}
}

// rememberTokens stores what the swap-back and userinfo paths need. A
// rewritten access token without its swap entry would be refused by the
// IdP later, so failing to store it fails the response.
func (i *Interceptor) rememberTokens(ctx context.Context, resp *tokenAnswer,
	at, newAT string, atTok *verified, idt, newID string, idTok *verified, clientID string, idEdits []claimEdit) error {
	atExp := tokenExpiry(atTok, resp)
	switch {
	case newAT != at:
		if err := i.putSwap(ctx, newAT, swapEntry{Upstream: at, ClientID: clientID, IDTokenEdits: idEdits}, atExp); err != nil {
			return &unavailableError{fmt.Errorf("storing access token swap: %w", err)}
		}
	case len(idEdits) > 0 || (clientID != "" && i.cfg.Dispatcher.HasFilteredHook(events.BeforeUserinfo)):
		if err := i.putSwap(ctx, at, swapEntry{ClientID: clientID, IDTokenEdits: idEdits}, atExp); err != nil {
			i.log.Error("storing the client and ID token edits for userinfo failed", zap.Error(err))
		}
	}
	if newID != idt {
		exp := numericDate(idTok.Claims["exp"]).Add(i.cfg.IDTokenGrace)
		if err := i.putSwap(ctx, newID, swapEntry{Upstream: idt, ClientID: clientID}, exp); err != nil {
			return &unavailableError{fmt.Errorf("storing ID token swap: %w", err)}
		}
	}
	return nil
}

// isDPoP reports a DPoP-bound access token (RFC 9449): by token_type or by
// a JWK thumbprint confirmation.
func isDPoP(resp *tokenAnswer, atTok *verified) bool {
	if strings.EqualFold(resp.TokenType, "DPoP") {
		return true
	}
	cnf, _ := atTok.Claims["cnf"].(map[string]any)
	_, ok := cnf["jkt"]
	return ok
}
