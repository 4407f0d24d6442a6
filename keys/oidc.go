package keys

import (
	"encoding/json"
)

// The methods below let a Manager serve directly as the OIDC interceptor's
// signer, with no adapter between them.

// SignJWT signs claims with the current key and JOSE typ header typ, and
// returns the algorithm it used: callers computing at_hash need the very
// algorithm of this signature, even across a rotation.
func (m *Manager) SignJWT(claims map[string]any, typ string) (token, alg string, err error) {
	s := m.Signer()
	tok, err := s.Sign(claims, map[string]any{"typ": typ})
	return tok, s.Algorithm, err
}

// Owns reports whether kid names one of our published keys.
func (m *Manager) Owns(kid string) bool {
	if kid == "" {
		return false
	}
	_, ok := m.snap.Load().byKid[kid]
	return ok
}

// PublicKeyJSON returns each published key as its JWK JSON object, for
// merging into a served key set. Encoded once per key set; the caller must
// not modify it.
func (m *Manager) PublicKeyJSON() []json.RawMessage {
	return m.snap.Load().keyJSON
}

// Algorithm is the algorithm of the key signing now.
func (m *Manager) Algorithm() string { return m.Signer().Algorithm }
