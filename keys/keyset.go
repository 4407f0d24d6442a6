package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// timingMember is the extra JWK member holding a key's phase times.
const timingMember = "idphooks_timing"

// timing is when a key signs and when it is published; see the package doc.
type timing struct {
	CreatedAt time.Time `json:"created_at"`
	SignFrom  time.Time `json:"sign_from"`
	// SignUntil and PublishUntil are set once a successor is scheduled.
	SignUntil    time.Time `json:"sign_until,omitzero"`
	PublishUntil time.Time `json:"publish_until,omitzero"`
}

// privateKey is one key of the stored set.
type privateKey struct {
	kid    string
	alg    string
	signer crypto.Signer
	timing timing
	// cert is the key's self-signed certificate, kept as the JWK's x5c
	// member, when the set keeps certificates (SAML).
	cert *x509.Certificate
}

// newPrivateKey generates a key for alg whose kid is its RFC 7638 thumbprint,
// so the kid is stable, unique and derivable by anyone holding the JWK.
func newPrivateKey(alg string, rsaBits int, t timing) (privateKey, error) {
	signer, err := generateKey(alg, rsaBits)
	if err != nil {
		return privateKey{}, err
	}
	kid, err := thumbprint(signer.Public())
	if err != nil {
		return privateKey{}, err
	}
	return privateKey{
		kid:    kid,
		alg:    alg,
		signer: signer,
		timing: t,
	}, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url encoded.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(thumb), nil
}

// encodeSet renders keys as a JWK Set with private members and the timing
// member, the form kept in storage.
func encodeSet(keys []privateKey) ([]byte, error) {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	set.Keys = make([]map[string]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		jwk := jose.JSONWebKey{Key: k.signer, KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
		if k.cert != nil {
			jwk.Certificates = []*x509.Certificate{k.cert}
		}
		raw, err := jwk.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("keys: encode %s: %w", k.kid, err)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, err
		}
		if members[timingMember], err = json.Marshal(k.timing); err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, members)
	}
	return json.Marshal(set)
}

// decodeSet parses a stored JWK Set, refusing keys we could not sign with:
// a set we half understand must not be overwritten by a rotation.
func decodeSet(data []byte) ([]privateKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("keys: stored key set is not a JWK Set: %w", err)
	}
	keys := make([]privateKey, 0, len(set.Keys))
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("keys: stored key %d: %w", i, err)
		}
		var extra struct {
			Timing *timing `json:"idphooks_timing"`
		}
		if err := json.Unmarshal(raw, &extra); err != nil {
			return nil, fmt.Errorf("keys: stored key %d: %w", i, err)
		}
		signer, ok := jwk.Key.(crypto.Signer)
		alg, known := algorithms[jwk.Algorithm]
		switch {
		case jwk.KeyID == "":
			return nil, fmt.Errorf("keys: stored key %d has no kid", i)
		case !known:
			return nil, fmt.Errorf("keys: stored key %s has unsupported alg %q", jwk.KeyID, jwk.Algorithm)
		case !ok || jwk.IsPublic():
			return nil, fmt.Errorf("keys: stored key %s has no private part", jwk.KeyID)
		case !alg.fits(signer):
			return nil, fmt.Errorf("keys: stored key %s does not fit alg %s", jwk.KeyID, jwk.Algorithm)
		case extra.Timing == nil:
			return nil, fmt.Errorf("keys: stored key %s has no %s member", jwk.KeyID, timingMember)
		}
		k := privateKey{kid: jwk.KeyID, alg: jwk.Algorithm, signer: signer, timing: *extra.Timing}
		if len(jwk.Certificates) > 0 {
			// go-jose has checked that the certificate holds this key.
			k.cert = jwk.Certificates[0]
		}
		keys = append(keys, k)
	}
	return keys, nil
}
