package caddymodule

import (
	"encoding/json"

	"github.com/idphooks/idphooks/keys"
)

// keySigner adapts the key manager to the interceptor's Signer.
type keySigner struct{ m *keys.Manager }

func (k keySigner) Sign(claims map[string]any, typ string) (string, string, error) {
	s := k.m.Signer()
	tok, err := s.Sign(claims, map[string]any{"typ": typ})
	return tok, s.Algorithm, err
}

func (k keySigner) Owns(kid string) bool {
	if kid == "" {
		return false
	}
	_, _, ok := k.m.Lookup(kid)
	return ok
}

func (k keySigner) PublicKeys() []json.RawMessage {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	_ = json.Unmarshal(k.m.PublicJWKS(), &set)
	return set.Keys
}

func (k keySigner) Algorithm() string { return k.m.Signer().Algorithm }
