package oidc

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/keys"
)

// tokenExchange is the RFC 8693 grant type; its subject and actor tokens may
// be tokens idphooks issued.
const tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// tokenParams are the token request parameters idphooks reads. Each may be
// sent once, in the form or the query: an IdP that reads the last of two
// values, or merges the query into the form, would otherwise act on a
// value the hooks were not chosen for.
var tokenParams = []string{
	"grant_type", "client_id", "client_assertion", "client_assertion_type",
	"scope", "code", "subject_token", "actor_token",
}

// tokenRound is one token request and its answer as the steps of the token
// path see them: read the request, verify the IdP's tokens, run the hooks,
// sign what they changed, remember the swaps, splice the answer.
type tokenRound struct {
	r        *http.Request
	d        *Discovery
	params   url.Values // the request's parameters (form, then query)
	grant    string
	clientID string

	body         []byte       // the IdP's answer
	resp         *tokenAnswer // what idphooks reads of it
	at, idt      string       // the IdP's tokens (idt empty when encrypted)
	atTok, idTok *verified    // their verified claims; atTok nil when opaque

	idEdits, atEdits []claimEdit
	newAT, newID     string
}

// serveToken handles the token endpoint: every grant type goes through
// before_token (and after_token_refresh for refreshes) when a hook listens,
// and the rewritten tokens are re-signed with idphooks' keys.
func (i *Interceptor) serveToken(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *Discovery) error {
	t, err := i.readTokenRequest(r, d)
	if err != nil {
		return err
	}
	if !i.wantsToken(t.grant) && !i.rewritesIssuer(d) {
		return next.ServeHTTP(w, r)
	}
	c, err := i.callUpstream(w, r, next)
	if c == nil {
		return err
	}
	defer c.Release()
	interception.KeepCORS(w, c.Header())
	if c.Over() {
		i.log.Error("upstream token response exceeds the size limit", zap.Int64("max_body", i.cfg.MaxBody))
		interception.WriteError(w, http.StatusBadGateway, "server_error", "identity provider response too large")
		return nil
	}
	if t.body, err = c.Body(); err == nil && isPreflight(r, t.body) {
		c.WriteHeld()
		return nil
	}
	if err == nil {
		err = i.rewriteTokenResponse(t)
	}
	var denied *interception.Denied
	var unavailable *interception.Unavailable
	switch {
	case err == nil && t.changed():
		c.WriteBody("application/json", spliceTokens(t.body, t.resp, t.newAT, t.newID))
	case err == nil:
		c.WriteHeld()
	case errors.As(err, &denied):
		interception.WriteError(w, http.StatusBadRequest, "access_denied", denied.Reason)
	case errors.As(err, &unavailable):
		if !errors.Is(err, ErrSwapUnavailable) && !errors.Is(err, events.ErrNotQueued) {
			// A store or a queue that cannot write logs its episode
			// once, not each token response it fails.
			i.log.Error("token response not issued", zap.Error(unavailable.Err))
		}
		interception.WriteError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "please retry")
	case errors.As(err, new(*docError)):
		// The keys (or discovery) to verify the answer with are out of
		// reach: logged once per failed fetch, not per token request.
		return i.badGateway(w, nil, "", err)
	default:
		i.log.Error("upstream token response rejected", zap.String("grant_type", t.grant), zap.Int("status", c.Status()), zap.Error(err))
		interception.WriteError(w, http.StatusBadGateway, "server_error", "identity provider returned an unusable token response")
	}
	return nil
}

// readTokenRequest reads the parameters of a token request and swaps the
// subject and actor tokens of a token exchange back to the IdP's.
func (i *Interceptor) readTokenRequest(r *http.Request, d *Discovery) (*tokenRound, error) {
	query, form, err := interception.Params(r, i.cfg.MaxBody, tokenParams...)
	if err != nil {
		return nil, err
	}
	if _, err := interception.SingleHeader(r, "Authorization"); err != nil {
		return nil, err
	}
	if err := i.swapParams(r, query, form, "subject_token", "actor_token"); err != nil {
		return nil, err
	}
	// Not a form POST, or parameters in the query: the IdP should refuse
	// them, but whatever it answers is looked at like any token response
	// (fail closed), with what it might have read.
	params := make(url.Values, len(form)+len(query))
	maps.Copy(params, query)
	maps.Copy(params, form)
	t := &tokenRound{r: r, d: d, params: params, grant: params.Get("grant_type")}
	t.clientID = requestClientID(r, params)
	return t, nil
}

// wantsToken reports whether token answers must be read. Any hook on the
// token events is reason enough, whichever client the request names: the
// client a request names is only the client idphooks reads, and an IdP
// may read another (credentials idphooks cannot parse, a grant that
// ignores client_id), so the hooks are chosen from the tokens the IdP
// signed, once they are verified.
func (i *Interceptor) wantsToken(grant string) bool {
	d := i.cfg.Dispatcher
	// Userinfo hooks limited to some applications need to know, later,
	// which client a token belongs to: remember it from here.
	return d.WantsEvent(events.BeforeToken) || d.HasFilteredHook(events.BeforeUserinfo) ||
		(grant == "refresh_token" && d.WantsEvent(events.AfterTokenRefresh)) ||
		(loginGrants[grant] && d.WantsEvent(events.AfterLogin))
}

// rewriteTokenResponse runs the steps of the token path on the IdP's
// answer; t.changed tells whether a token was re-signed.
func (i *Interceptor) rewriteTokenResponse(t *tokenRound) error {
	resp, err := tokenFields(t.body)
	if err != nil {
		return err
	}
	t.resp, t.at, t.idt = resp, resp.AccessToken, resp.IDToken
	if t.at == "" {
		return errors.New("token response has no access_token string")
	}
	if err := i.verifyTokens(t); err != nil {
		if i.noHookFor(t) {
			// Tokens idphooks cannot verify (an HS256 ID token, say) for a
			// client no hook applies to: they pass as the IdP made them,
			// as they would without idphooks; nothing is re-signed.
			i.log.Debug("token answer passed unread: not verifiable, and no hook applies to its client", zap.Error(err))
			skipTokenEvents(i.cfg.Dispatcher, t, unverifiedClient(t.idt, t.at), false, false)
			if loginGrants[t.grant] && i.cfg.Dispatcher.WantsEvent(events.AfterLogin) {
				i.log.Warn("after_login not raised: the IdP's tokens could not be verified", zap.String("grant_type", t.grant), zap.Error(err))
			}
			t.newAT, t.newID = t.at, t.idt
			return nil
		}
		return err
	}
	ops, err := i.runTokenHooks(t)
	if err != nil {
		return err
	}
	t.idEdits, t.atEdits = editsFor(ops, "idToken"), editsFor(ops, "accessToken")
	if err := i.signTokens(t); err != nil {
		return err
	}
	if err := i.rememberTokens(t); err != nil {
		return err
	}
	return i.afterLogin(t)
}

// noHookFor reports a token answer whose client, as the request names it
// and as the (unverified) tokens name it alike, no hook applies to, and
// whose tokens idphooks need not remember. Unverified claims may decide
// this much: the tokens are the IdP's, and idphooks changes nothing.
func (i *Interceptor) noHookFor(t *tokenRound) bool {
	c := unverifiedClient(t.idt, t.at)
	if c == "" || (t.clientID != "" && t.clientID != c) {
		return false
	}
	d := i.cfg.Dispatcher
	return !d.Wants(events.BeforeToken, c) &&
		!(t.grant == "refresh_token" && d.Wants(events.AfterTokenRefresh, c)) &&
		!(d.HasFilteredHook(events.BeforeUserinfo) && d.Wants(events.BeforeUserinfo, c))
}

func (t *tokenRound) changed() bool { return t.newAT != t.at || t.newID != t.idt }

// verifyTokens checks the IdP's tokens before anything is built on them,
// and learns the client from them when the request did not say.
func (i *Interceptor) verifyTokens(t *tokenRound) error {
	ctx, public := t.r.Context(), interception.PublicOrigin(t.r)
	if strings.Count(t.idt, ".") == 4 {
		// An encrypted (JWE) ID token: idphooks cannot read it, so it
		// passes unchanged and hooks see no ID token claims.
		i.log.Warn("encrypted ID token passed unchanged; hooks cannot edit it")
		t.idt = ""
	}
	var err error
	if t.idt != "" {
		if t.idTok, err = i.verify.Verify(ctx, t.idt, true, public); err != nil {
			return fmt.Errorf("upstream ID token failed verification: %w", err)
		}
		if t.clientID != "" && !audienceHas(t.idTok.Claims["aud"], t.clientID) {
			return fmt.Errorf("upstream ID token audience does not name client %q", t.clientID)
		}
	}
	if looksLikeJWS(t.at) {
		if t.atTok, err = i.verify.Verify(ctx, t.at, false, public); err != nil {
			// Access tokens for other resource servers may be signed with
			// keys the IdP does not publish; idphooks never re-signs what
			// it could not verify, so such a token is opaque to it.
			i.log.Debug("access token not verifiable with upstream keys; treated as opaque", zap.Error(err))
			t.atTok = nil
		}
	}
	if t.idTok != nil || t.atTok != nil {
		i.outageOver("keys")
	}
	if t.atTok != nil && t.clientID != "" {
		// Hooks were chosen for clientID: the tokens must be its own.
		for _, k := range []string{"azp", "client_id"} {
			if c, _ := t.atTok.Claims[k].(string); c != "" && c != t.clientID {
				return fmt.Errorf("upstream access token %s %q is not the requesting client %q", k, c, t.clientID)
			}
		}
	}
	// The tokens, verified, name the client the IdP issued them to: it
	// is the one hooks are chosen for (the checks above keep a request
	// that named another from getting this far).
	if c := tokenClientID(t.idTok, t.atTok); c != "" {
		t.clientID = c
	}
	if t.atTok != nil && isDPoP(t.resp, t.atTok) {
		// A DPoP proof hashes the access token (ath): a rewritten one
		// would no longer match the client's proofs.
		i.log.Warn("DPoP-bound access token passed unchanged; hooks cannot edit it", zap.String("client_id", t.clientID))
		t.atTok = nil
	}
	return nil
}

// signTokens applies the hooks' edits (and the configured issuer) and
// re-signs the tokens that changed with idphooks' active key.
func (i *Interceptor) signTokens(t *tokenRound) error {
	if t.atTok == nil && len(t.atEdits) > 0 {
		i.log.Warn("hook set access token claims, but the access token is opaque: edits ignored",
			zap.String("client_id", t.clientID), zap.Int("edits", len(t.atEdits)))
	}
	issuer := ""
	if i.rewritesIssuer(t.d) {
		issuer = i.cfg.Issuer
	}
	t.newAT, t.newID = t.at, t.idt
	atChanged := false
	if t.atTok != nil {
		claims := maps.Clone(t.atTok.Claims)
		changed := i.policy.Apply(claims, t.atEdits)
		if issuer != "" {
			claims["iss"], changed = issuer, true
		}
		if changed {
			tok, _, err := i.cfg.Signer.SignJWT(claims, typOr(t.atTok, "JWT"))
			if err != nil {
				return interception.Unavailablef(fmt.Errorf("signing access token: %w", err))
			}
			t.newAT, atChanged = tok, true
		}
	}
	if t.idTok != nil {
		claims := maps.Clone(t.idTok.Claims)
		changed := i.policy.Apply(claims, t.idEdits)
		if issuer != "" {
			claims["iss"], changed = issuer, true
		}
		if _, ok := claims["at_hash"]; ok && atChanged {
			changed = true
		}
		if changed {
			upAlg, _ := t.idTok.Header["alg"].(string)
			tok, err := i.signIDToken(claims, typOr(t.idTok, "JWT"), t.newAT, t.params.Get("code"), upAlg)
			if err != nil {
				return interception.Unavailablef(fmt.Errorf("signing ID token: %w", err))
			}
			t.newID = tok
		}
	}
	return nil
}

// typOr is the token's JOSE typ, or def when it has none.
func typOr(v *verified, def string) string {
	if typ := v.Typ(); typ != "" {
		return typ
	}
	return def
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

// rememberTokens stores what the swap-back and userinfo paths need, in
// one write. A rewritten token without its swap entry would be refused by
// the IdP later, so failing to store one fails the response (503, retry);
// an entry only kept for userinfo hooks is not worth failing a login for.
func (i *Interceptor) rememberTokens(t *tokenRound) error {
	atExp := tokenExpiry(t.atTok, t.resp)
	var stack [2]swapPut
	puts, needed := stack[:0], false
	switch {
	case t.newAT != t.at:
		puts = append(puts, swapPut{t.newAT, swapEntry{Upstream: t.at, ClientID: t.clientID, IDTokenEdits: t.idEdits, AccessTokenEdits: t.atEdits}, atExp})
		needed = true
	case len(t.idEdits) > 0 || (t.clientID != "" && i.cfg.Dispatcher.HasFilteredHook(events.BeforeUserinfo)):
		puts = append(puts, swapPut{t.at, swapEntry{ClientID: t.clientID, IDTokenEdits: t.idEdits}, atExp})
	}
	if t.newID != t.idt {
		exp := numericDate(t.idTok.Claims["exp"]).Add(i.cfg.IDTokenGrace)
		puts = append(puts, swapPut{t.newID, swapEntry{Upstream: t.idt, ClientID: t.clientID}, exp})
		needed = true
	}
	if len(puts) == 0 {
		return nil
	}
	err := i.putSwaps(t.r.Context(), puts...)
	switch {
	case err == nil:
		return nil
	case needed:
		return interception.Unavailablef(fmt.Errorf("storing token swaps: %w", err))
	case !errors.Is(err, ErrSwapUnavailable):
		// An unavailable store has logged its episode already.
		i.log.Error("storing the client and ID token edits for userinfo failed", zap.Error(err))
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

// callUpstream sends r on to the IdP, asking for an identity-encoded
// answer, and holds a successful (2xx) one for the interceptor; any other
// streams to the client as it is (IdP errors are the IdP's to give). A nil
// Capture means the request is over: err is then next's own.
func (i *Interceptor) callUpstream(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (*interception.Capture, error) {
	r.Header.Set("Accept-Encoding", "identity")
	c := interception.NewCapture(w, i.cfg.MaxBody, interception.Successes)
	err := c.Serve(next, r)
	if !c.Held() || (err != nil && !c.Over()) {
		c.Release()
		return nil, err
	}
	return c, nil
}

// readUpstream is callUpstream and the decoded body of the held answer;
// an unusable one (too large, undecodable) is a 502 that names what it
// was. A nil Capture means the request is over, err saying how.
func (i *Interceptor) readUpstream(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, what string) (*interception.Capture, []byte, error) {
	c, err := i.callUpstream(w, r, next)
	if c == nil {
		return nil, nil, err
	}
	body, err := c.Body()
	if err != nil {
		defer c.Release()
		if errors.Is(err, interception.ErrTooLarge) {
			return nil, nil, i.badGateway(w, c, "identity provider response too large", err)
		}
		return nil, nil, i.badGateway(w, c, what+" unusable", err)
	}
	return c, body, nil
}

// isPreflight reports the answer to an OPTIONS request (a CORS preflight)
// that carries nothing: no token or claim can hide in an empty body, while
// a non-empty one (an IdP whose router sends every method to its token
// handler) is read like any other.
func isPreflight(r *http.Request, body []byte) bool {
	return r.Method == http.MethodOptions && len(bytes.TrimSpace(body)) == 0
}
