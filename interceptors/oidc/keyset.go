package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idphooks/idphooks/upstream"
)

// KeySet holds the upstream's published keys. Like a relying party's key
// cache it is long-lived, refetched once when a token names an unknown kid,
// with concurrent refetches collapsed, failures backed off and keys
// replaced only on success.
type KeySet struct {
	up  *Upstream
	doc upstream.Document[*jwkSet]

	// MinRefresh bounds how often an unknown kid may trigger a refetch, so
	// forged kids cannot turn idphooks into a load generator on the IdP.
	MinRefresh time.Duration
}

// jwkSet is one fetch of the upstream's JWKS.
type jwkSet struct {
	// verify are the signing keys: the only ones tokens verify with.
	verify []jose.JSONWebKey
	// publish is every public key as the IdP wrote it, encryption keys
	// included: clients that encrypt request objects to the IdP look for
	// them in the key set idphooks serves in its place.
	publish []json.RawMessage
}

func newKeySet(up *Upstream) *KeySet {
	ks := &KeySet{up: up, MinRefresh: 10 * time.Second}
	ks.doc.Fetch = ks.fetch
	return ks
}

// errUnknownKey means no upstream key matched a token's kid.
var errUnknownKey = errors.New("no upstream key matches the token's kid")

// Lookup returns the upstream signing key with the given kid (or, for
// tokens without kid, every signing key), fetching the key set when it is
// unknown.
func (ks *KeySet) Lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	// A stale set is fetched again (a key the IdP withdrew must stop
	// verifying); the old one stays while that fails.
	set, err := ks.doc.Get(ctx)
	if err != nil {
		return nil, err
	}
	if keys := set.find(kid); len(keys) > 0 {
		return keys, nil
	}
	set, fetched, err := ks.doc.Refresh(ctx, ks.MinRefresh)
	if err != nil {
		return nil, err
	}
	if !fetched {
		return nil, errUnknownKey
	}
	if keys := set.find(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, errUnknownKey
}

// refetch fetches the key set again unless it was fetched within
// MinRefresh, and reports whether a new set is in hand.
func (ks *KeySet) refetch(ctx context.Context) bool {
	_, fetched, err := ks.doc.Refresh(ctx, ks.MinRefresh)
	return err == nil && fetched
}

// Raw returns the upstream's public keys as published, for merging into
// the JWKS idphooks serves. It fetches them on first use.
func (ks *KeySet) Raw(ctx context.Context) ([]json.RawMessage, error) {
	set, err := ks.doc.Get(ctx)
	if err != nil {
		return nil, err
	}
	return set.publish, nil
}

func (s *jwkSet) find(kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range s.verify {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

func (ks *KeySet) fetch(ctx context.Context) (*jwkSet, error) {
	d, err := ks.up.Discovery(ctx)
	if err != nil {
		return nil, err
	}
	at := ks.up.JWKSURL(d)
	body, err := ks.up.Client.Get(ctx, at, "application/json")
	if err != nil {
		return nil, &docError{doc: "keys", url: at, err: err, hint: ks.up.fetchHint(err, keysStatusHint)}
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := objectStart(body); err != nil {
		return nil, &docError{doc: "keys", url: at, err: err, hint: "does the discovery document's jwks_uri point at the IdP's key set?"}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, &docError{doc: "keys", url: at, err: fmt.Errorf("malformed JSON: %w", err), hint: "does the discovery document's jwks_uri point at the IdP's key set?"}
	}
	set := &jwkSet{}
	for _, r := range doc.Keys {
		if !publicJWK(r) {
			continue
		}
		set.publish = append(set.publish, r)
		var k jose.JSONWebKey
		// Keys of unknown types or for encryption do not verify tokens,
		// but they are not fatal: an IdP may publish more than signing
		// keys.
		if err := k.UnmarshalJSON(r); err != nil || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		set.verify = append(set.verify, k)
	}
	return set, nil
}

// publicJWK reports a JSON object holding no private or symmetric key
// material: those are never republished, whatever the IdP serves.
func publicJWK(r json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(r, &m) != nil {
		return false
	}
	for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := m[p]; ok {
			return false
		}
	}
	_, hasKty := m["kty"]
	return hasKty
}
