package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// swapEntry is what idphooks remembers about a token it handed out.
type swapEntry struct {
	// Upstream is the IdP's original token; empty when the token handed
	// out is the IdP's own (only its claims edits are remembered).
	Upstream string `json:"u,omitempty"`
	// ClientID is the application the token was issued to.
	ClientID string `json:"c,omitempty"`
	// IDTokenEdits are the claim edits hooks made to the ID token of the
	// same response, replayed on userinfo so both agree.
	IDTokenEdits []claimEdit `json:"e,omitempty"`
	// AccessTokenEdits are the edits made to a rewritten JWT access
	// token, replayed on introspection answers, which carry the IdP's
	// original token's claims.
	AccessTokenEdits []claimEdit `json:"a,omitempty"`
}

// swapPut is one entry for putSwaps.
type swapPut struct {
	token string
	entry swapEntry
	exp   time.Time
}

// putSwaps files the entries in one Swaps.Put.
func (i *Interceptor) putSwaps(ctx context.Context, puts ...swapPut) error {
	var stack [2]SwapWrite
	writes := stack[:0]
	defer func() {
		// Swaps.Put copies what it keeps (see Swaps); the plaintext
		// upstream tokens do not linger in these buffers.
		for _, w := range writes {
			clear(w.Value)
		}
	}()
	for _, p := range puts {
		b, err := p.entry.encode()
		if err != nil {
			return err
		}
		writes = append(writes, SwapWrite{Token: p.token, Value: b, Exp: p.exp})
	}
	return i.cfg.Swaps.Put(ctx, writes...)
}

// encode writes e as JSON (entries written by earlier versions are that).
func (e swapEntry) encode() ([]byte, error) { return json.Marshal(e) }

// lookup returns what is remembered for a token, or nil. It fails only
// while the store cannot answer: with a 503 for the client to retry.
func (i *Interceptor) lookup(ctx context.Context, token string) (*swapEntry, error) {
	b, err := i.cfg.Swaps.Get(ctx, token)
	switch {
	case errors.Is(err, ErrSwapNotFound):
		return nil, nil
	case errors.Is(err, ErrSwapUnavailable):
		return nil, swapsUnavailable(err)
	case err != nil:
		i.log.Error("swap store entry unreadable", zap.Error(err))
		return nil, nil
	}
	e, err := readSwapEntry(b)
	if err != nil {
		i.log.Error("swap store entry unreadable", zap.Error(err))
		return nil, nil
	}
	return e, nil
}

// swapsUnavailable is the answer to a request whose token cannot be looked
// up now. Sent on unswapped, the token would be refused by the IdP, and a
// client told invalid_token drops a grant that is still good.
func swapsUnavailable(err error) error {
	return &interception.Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "please retry", Cause: err}
}

// readSwapEntry decodes what encode wrote, strictly: one JSON object,
// each member once and as written, valid UTF-8, nothing after it. Members
// a later version may add are skipped.
func readSwapEntry(b []byte) (*swapEntry, error) {
	var e swapEntry
	if err := jsonv2.Unmarshal(b, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// original maps a token idphooks issued back to the IdP's; other tokens
// are returned unchanged. Only JWTs signed with idphooks' keys can be ours,
// which keeps the store out of the path of every opaque token.
func (i *Interceptor) original(ctx context.Context, token string) (string, error) {
	if token == "" || !i.cfg.Signer.Owns(peekKid(token)) {
		return token, nil
	}
	e, err := i.lookup(ctx, token)
	if e != nil && e.Upstream != "" {
		return e.Upstream, nil
	}
	// Unknown or expired: the IdP will refuse it, as it should.
	return token, err
}

// swapBearer swaps an access token idphooks issued in the Authorization
// header. A request with two Authorization headers is refused: idphooks
// would swap one while the IdP may read the other.
func (i *Interceptor) swapBearer(r *http.Request) error {
	a, err := bearer(r)
	if err != nil || a.token == "" {
		return err
	}
	orig, err := i.original(r.Context(), a.token)
	if orig != a.token {
		a.set(r, orig)
	}
	return err
}

// accessToken is the access token of an Authorization header.
type accessToken struct {
	scheme, token string
}

// set puts tok in r's Authorization header under the same scheme.
func (a accessToken) set(r *http.Request, tok string) {
	r.Header.Set("Authorization", a.scheme+" "+tok)
}

// bearer is the request's access token under the Bearer scheme, or DPoP
// (RFC 9449), which IdPs accept at userinfo as well; any run of spaces or
// tabs may follow the scheme, as the IdPs' parsers allow.
func bearer(r *http.Request) (accessToken, error) {
	h, err := interception.SingleHeader(r, "Authorization")
	if err != nil || h == "" {
		return accessToken{}, err
	}
	scheme, tok := interception.SplitAuthorization(h)
	if tok == "" || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "dpop")) {
		return accessToken{}, nil
	}
	return accessToken{scheme: scheme, token: tok}, nil
}

// swapQueryAndForm swaps tokens sent in the query or in a form body; each
// may stand once in one of the two (an IdP may read either, or both). It
// returns the value of each name as the IdP receives it.
func (i *Interceptor) swapQueryAndForm(r *http.Request, names ...string) (url.Values, error) {
	q, form, err := interception.Params(r, i.cfg.MaxBody, names...)
	if err != nil {
		return nil, err
	}
	if err := i.swapParams(r, q, form, names...); err != nil {
		return nil, err
	}
	out := make(url.Values, len(names))
	for _, n := range names {
		if v := q.Get(n); v != "" {
			out.Set(n, v)
		} else if v := form.Get(n); v != "" {
			out.Set(n, v)
		}
	}
	return out, nil
}

// swapParams swaps the named tokens in the query and the form body that
// interception.Params read, and writes back whichever changed. Both are
// swapped: the standards put these tokens in the body, but an IdP that
// merges the query into its parameters would otherwise act on a token of
// ours it does not know (a revocation that revokes nothing, answered 200).
func (i *Interceptor) swapParams(r *http.Request, q, form url.Values, names ...string) error {
	changed, err := i.swapValues(r.Context(), q, names)
	if err != nil {
		return err
	}
	if changed {
		interception.SetQuery(r, q)
	}
	if form != nil {
		_, err = i.swapFormValues(r, form, names...)
	}
	return err
}

func (i *Interceptor) swapFormValues(r *http.Request, form url.Values, names ...string) (bool, error) {
	changed, err := i.swapValues(r.Context(), form, names)
	if changed && err == nil {
		interception.SetBody(r, []byte(form.Encode()))
	}
	return changed, err
}

// swapValues replaces, in query or form values, the named tokens idphooks
// issued with the IdP's originals, reporting whether any changed.
func (i *Interceptor) swapValues(ctx context.Context, vals url.Values, names []string) (bool, error) {
	changed := false
	for _, n := range names {
		if v := vals.Get(n); v != "" {
			orig, err := i.original(ctx, v)
			if err != nil {
				return false, err
			}
			if orig != v {
				vals.Set(n, orig)
				changed = true
			}
		}
	}
	return changed, nil
}
