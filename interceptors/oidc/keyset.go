package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// KeySet holds the upstream's published signing keys. Like a relying party's
// key cache it is long-lived, refetched once when a token names an unknown
// kid, with concurrent refetches collapsed and keys replaced only on success.
type KeySet struct {
	up *Upstream

	// MinRefresh bounds how often an unknown kid may trigger a refetch, so
	// forged kids cannot turn idphooks into a load generator on the IdP.
	MinRefresh time.Duration

	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	raw     []json.RawMessage
	fetched time.Time
}

// errUnknownKey means no upstream key matched a token's kid.
var errUnknownKey = errors.New("no upstream key matches the token's kid")

// Lookup returns the upstream public key with the given kid (or, for tokens
// without kid, every key), fetching the key set when it is unknown.
func (ks *KeySet) Lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	ks.mu.RLock()
	stale := !ks.fetched.IsZero() && time.Since(ks.fetched) > ks.up.DiscoveryTTL
	ks.mu.RUnlock()
	if stale {
		// A key the IdP withdrew must stop verifying; keep the old set if
		// the refetch fails.
		_ = ks.refresh(ctx)
	}
	if keys := ks.find(kid); len(keys) > 0 {
		return keys, nil
	}
	ks.mu.RLock()
	recent := !ks.fetched.IsZero() && time.Since(ks.fetched) < ks.MinRefresh
	ks.mu.RUnlock()
	if recent {
		return nil, errUnknownKey
	}
	if err := ks.refresh(ctx); err != nil {
		return nil, err
	}
	if keys := ks.find(kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, errUnknownKey
}

// Raw returns the upstream's keys as published, for merging into the JWKS
// idphooks serves. It fetches them on first use.
func (ks *KeySet) Raw(ctx context.Context) ([]json.RawMessage, error) {
	ks.mu.RLock()
	raw, fetched := ks.raw, ks.fetched
	ks.mu.RUnlock()
	if !fetched.IsZero() && time.Since(fetched) < ks.up.DiscoveryTTL {
		return raw, nil
	}
	if err := ks.refresh(ctx); err != nil {
		if !fetched.IsZero() {
			return raw, nil
		}
		return nil, err
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.raw, nil
}

func (ks *KeySet) find(kid string) []jose.JSONWebKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	var out []jose.JSONWebKey
	for _, k := range ks.keys {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

func (ks *KeySet) refresh(ctx context.Context) error {
	_, err, _ := ks.up.group.Do("jwks", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		d, err := ks.up.Discovery(ctx)
		if err != nil {
			return nil, err
		}
		body, err := ks.up.get(ctx, ks.up.JWKSURL(d))
		if err != nil {
			return nil, fmt.Errorf("upstream JWKS: %w", err)
		}
		var doc struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("upstream JWKS: malformed JSON: %w", err)
		}
		keys := make([]jose.JSONWebKey, 0, len(doc.Keys))
		raw := make([]json.RawMessage, 0, len(doc.Keys))
		for _, r := range doc.Keys {
			var k jose.JSONWebKey
			// Keys of unknown types or for encryption are skipped, not
			// fatal: an IdP may publish more than signing keys.
			if err := k.UnmarshalJSON(r); err != nil || !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
				continue
			}
			keys = append(keys, k)
			raw = append(raw, r)
		}
		ks.mu.Lock()
		ks.keys, ks.raw, ks.fetched = keys, raw, time.Now()
		ks.mu.Unlock()
		return nil, nil
	})
	return err
}
