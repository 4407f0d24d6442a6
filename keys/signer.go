package keys

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Signer is one key able to sign, with what a JWS header needs to name it.
type Signer struct {
	KeyID     string
	Algorithm string
	Method    jwt.SigningMethod
	// Key is the private key: *rsa.PrivateKey, *ecdsa.PrivateKey or
	// ed25519.PrivateKey.
	Key crypto.Signer
	// Certificate is the key's certificate, when the set keeps them.
	Certificate *x509.Certificate
}

// Sign returns the compact JWS of claims with this key. header adds header
// parameters such as "typ" (default "JWT"; RFC 9068 access tokens want
// "at+jwt"); "alg" and "kid" belong to the key and cannot be set there.
func (s Signer) Sign(claims map[string]any, header map[string]any) (string, error) {
	if s.Method == nil {
		return "", fmt.Errorf("keys: no signing key")
	}
	tok := jwt.NewWithClaims(s.Method, jwt.MapClaims(claims))
	for name, v := range header {
		if name == "alg" || name == "kid" {
			return "", fmt.Errorf("keys: header %q is set by the signing key", name)
		}
		tok.Header[name] = v
	}
	tok.Header["kid"] = s.KeyID
	return tok.SignedString(s.Key)
}

// PublicKey is one published key, for verifying tokens we signed.
type PublicKey struct {
	KeyID     string
	Algorithm string
	// Key is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Key crypto.PublicKey
	// Certificate is the key's certificate, when the set keeps them.
	Certificate *x509.Certificate
}
