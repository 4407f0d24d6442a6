package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultAlgorithms are the upstream signature algorithms accepted when none
// are configured: asymmetric only. HMAC would let anyone holding a client
// secret mint tokens idphooks then re-signs; "none" needs no words.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// verified is an upstream JWT whose signature, issuer and lifetime checked out.
type verified struct {
	Raw    string
	Header map[string]any
	Claims map[string]any // numbers as json.Number, so re-encoding is exact
}

// Typ is the JOSE typ header, kept when re-signing (RFC 9068 wants at+jwt).
func (v *verified) Typ() string {
	s, _ := v.Header["typ"].(string)
	return s
}

// Verifier checks upstream tokens before anything is re-signed.
type Verifier struct {
	Keys *KeySet
	// Issuers returns the issuers accepted for a request reaching idphooks
	// on the public origin.
	Issuers    func(ctx context.Context, public string) ([]string, error)
	Algorithms []string
	Leeway     time.Duration
	Now        func() time.Time
}

// Verify checks signature (allow-listed algorithm, upstream key), issuer and
// time claims. requireExp is set for ID tokens, where exp is mandatory;
// public is the origin the client reached idphooks on.
func (v *Verifier) Verify(ctx context.Context, raw string, requireExp bool, public string) (*verified, error) {
	opts := []jwt.ParserOption{jwt.WithLeeway(v.Leeway)}
	if v.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(v.Now))
	}
	if requireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	return v.verify(ctx, raw, public, opts)
}

// VerifyHint checks an ID token sent back as id_token_hint: signature
// (allow-listed algorithm, upstream key) and issuer, not its times, since
// clients send expired ID tokens at logout (OpenID Connect RP-Initiated
// Logout §2 allows it).
func (v *Verifier) VerifyHint(ctx context.Context, raw string, public string) (*verified, error) {
	return v.verify(ctx, raw, public, []jwt.ParserOption{jwt.WithoutClaimsValidation()})
}

func (v *Verifier) verify(ctx context.Context, raw, public string, opts []jwt.ParserOption) (*verified, error) {
	issuers, err := v.Issuers(ctx, public)
	if err != nil {
		return nil, err
	}
	parser := jwt.NewParser(append(opts, jwt.WithValidMethods(v.Algorithms), jwt.WithJSONNumber())...)
	claims, tok, err := v.parse(ctx, parser, raw)
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) && v.Keys.refetch(ctx) {
		// The IdP may have replaced a key under the same kid (or tokens
		// carry none): a relying party would refetch its keys, and so
		// does idphooks, at most every MinRefresh, then tries once more.
		claims, tok, err = v.parse(ctx, parser, raw)
	}
	if err != nil {
		return nil, err
	}
	iss, _ := claims["iss"].(string)
	if !slices.Contains(issuers, iss) {
		return nil, fmt.Errorf("token issuer %q is not the upstream's (%s)", iss, strings.Join(issuers, " or "))
	}
	return &verified{Raw: raw, Header: tok.Header, Claims: claims}, nil
}

// parse checks raw's signature and time claims with the keys in hand.
func (v *Verifier) parse(ctx context.Context, parser *jwt.Parser, raw string) (jwt.MapClaims, *jwt.Token, error) {
	claims := jwt.MapClaims{}
	tok, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys, err := v.Keys.Lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			// A key that names its algorithm is used for that one only.
			if k.Algorithm != "" && k.Algorithm != t.Method.Alg() {
				continue
			}
			set.Keys = append(set.Keys, k.Key)
		}
		if len(set.Keys) == 0 {
			return nil, errUnknownKey
		}
		return set, nil
	})
	return claims, tok, err
}

// looksLikeJWS tells a compact JWS from an opaque token without trusting it.
func looksLikeJWS(tok string) bool {
	if strings.Count(tok, ".") != 2 {
		return false
	}
	h, err := peekHeader(tok)
	if err != nil {
		return false
	}
	alg, _ := h["alg"].(string)
	return alg != ""
}

// peekHeader decodes a JWT header without verifying anything.
func peekHeader(tok string) (map[string]any, error) {
	i := strings.IndexByte(tok, '.')
	if i <= 0 || i > 4096 {
		return nil, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[:i])
	if err != nil {
		return nil, fmt.Errorf("JWT header: %w", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("JWT header: %w", err)
	}
	return h, nil
}

// peekKid returns the kid of a JWT header, or "".
func peekKid(tok string) string {
	h, err := peekHeader(tok)
	if err != nil {
		return ""
	}
	kid, _ := h["kid"].(string)
	return kid
}
