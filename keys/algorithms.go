package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// algorithm describes one JWS algorithm we can hold keys for.
type algorithm struct {
	method jwt.SigningMethod
	// generate makes a new private key of the right kind and size.
	generate func(rsaBits int) (crypto.Signer, error)
	// fits reports whether a loaded key is of the right kind for it.
	fits func(crypto.Signer) bool
}

var algorithms = map[string]algorithm{
	"RS256": rsaAlg(jwt.SigningMethodRS256),
	"RS384": rsaAlg(jwt.SigningMethodRS384),
	"RS512": rsaAlg(jwt.SigningMethodRS512),
	"PS256": rsaAlg(jwt.SigningMethodPS256),
	"PS384": rsaAlg(jwt.SigningMethodPS384),
	"PS512": rsaAlg(jwt.SigningMethodPS512),
	"ES256": ecAlg(jwt.SigningMethodES256, elliptic.P256()),
	"ES384": ecAlg(jwt.SigningMethodES384, elliptic.P384()),
	"ES512": ecAlg(jwt.SigningMethodES512, elliptic.P521()),
	"EdDSA": {
		method: jwt.SigningMethodEdDSA,
		generate: func(int) (crypto.Signer, error) {
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			return priv, err
		},
		fits: func(k crypto.Signer) bool { _, ok := k.(ed25519.PrivateKey); return ok },
	},
}

func rsaAlg(m jwt.SigningMethod) algorithm {
	return algorithm{
		method: m,
		generate: func(bits int) (crypto.Signer, error) {
			return rsa.GenerateKey(rand.Reader, bits)
		},
		fits: func(k crypto.Signer) bool {
			r, ok := k.(*rsa.PrivateKey)
			return ok && r.N.BitLen() >= 2048
		},
	}
}

func ecAlg(m jwt.SigningMethod, curve elliptic.Curve) algorithm {
	return algorithm{
		method: m,
		generate: func(int) (crypto.Signer, error) {
			return ecdsa.GenerateKey(curve, rand.Reader)
		},
		// JWS ties each ES algorithm to one curve (RFC 7518 §3.4).
		fits: func(k crypto.Signer) bool {
			e, ok := k.(*ecdsa.PrivateKey)
			return ok && e.Curve == curve
		},
	}
}

func generateKey(alg string, rsaBits int) (crypto.Signer, error) {
	a, ok := algorithms[alg]
	if !ok {
		return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	return a.generate(rsaBits)
}
