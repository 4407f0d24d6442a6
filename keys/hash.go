package keys

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
)

// HashClaim computes an at_hash or c_hash value (OIDC Core §3.1.3.6 and
// §3.3.2.11): the base64url (unpadded) left half of the hash of the ASCII
// value, the hash being the one of the ID token's JWS alg. EdDSA (Ed25519)
// uses SHA-512, as OIDC registered for it. It returns "" for an alg it has
// no hash for (none, or one unknown here); every alg a Signer uses has one.
func HashClaim(alg, value string) string {
	var h hash.Hash
	switch alg {
	case "HS256", "RS256", "ES256", "PS256":
		h = sha256.New()
	case "HS384", "RS384", "ES384", "PS384":
		h = sha512.New384()
	case "HS512", "RS512", "ES512", "PS512", "EdDSA", "Ed25519":
		h = sha512.New()
	default:
		return ""
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
