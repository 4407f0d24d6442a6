package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefixes of the Standard Webhooks key serialisations.
const (
	SecretPrefix     = "whsec_" // symmetric secret, v1 signatures
	SigningKeyPrefix = "whsk_"  // Ed25519 private key, v1a signatures
	PublicKeyPrefix  = "whpk_"  // Ed25519 public key, for receivers
)

// Bounds of a symmetric secret, from the spec: 24 to 64 random bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Secret is a parsed whsec_ secret.
type Secret struct {
	key []byte
}

// ParseSecret reads a "whsec_<base64>" secret. Its errors say what is
// wrong without showing the value: it is a secret.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Secret{}, errors.New("webhook secret is empty")
	}
	if !strings.HasPrefix(s, SecretPrefix) {
		return Secret{}, fmt.Errorf("webhook secret must start with %q (a Standard Webhooks secret: %s followed by base64 of %d to %d random bytes)",
			SecretPrefix, SecretPrefix, MinSecretBytes, MaxSecretBytes)
	}
	key, err := decodeBase64(s[len(SecretPrefix):])
	if err != nil {
		return Secret{}, fmt.Errorf("webhook secret: the part after %s is not base64: %v", SecretPrefix, err)
	}
	if len(key) < MinSecretBytes {
		return Secret{}, fmt.Errorf("webhook secret too short: %d bytes, at least %d are needed", len(key), MinSecretBytes)
	}
	if len(key) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("webhook secret too long: %d bytes, at most %d", len(key), MaxSecretBytes)
	}
	return Secret{key: key}, nil
}

// decodeBase64 takes standard base64, padded or not: secrets are pasted
// from other systems' consoles, which differ in padding. The URL-safe
// alphabet is refused with a pointer to it (receivers' libraries decode
// the standard one, so they would verify with different bytes).
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "-_") {
		return nil, errors.New("it uses the URL-safe alphabet (- or _); Standard Webhooks keys use standard base64 (+ and /)")
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("illegal base64 data at byte %d", int64(ce))
		}
		return nil, err
	}
	return b, nil
}

// GenerateSecret returns a fresh whsec_ secret of 32 random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SigningKey is a parsed whsk_ Ed25519 private key.
type SigningKey struct {
	priv ed25519.PrivateKey
}

// ParseSigningKey reads "whsk_<base64>": the spec says "a standard
// ed25519 key pair" without fixing the bytes, so both common forms are
// taken: the 32-byte seed (RFC 8032's private key) and Go's and
// libsodium's 64-byte seed‖public key, whose public half must match.
func ParseSigningKey(s string) (SigningKey, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, SigningKeyPrefix) {
		hint := ""
		if strings.HasPrefix(s, PublicKeyPrefix) {
			hint = " (this is a public key: idphooks signs with the private whsk_ key, receivers verify with the whpk_ one)"
		}
		return SigningKey{}, fmt.Errorf("webhook signing key must start with %q%s", SigningKeyPrefix, hint)
	}
	b, err := decodeBase64(s[len(SigningKeyPrefix):])
	if err != nil {
		return SigningKey{}, fmt.Errorf("webhook signing key: the part after %s is not base64: %v", SigningKeyPrefix, err)
	}
	switch len(b) {
	case ed25519.SeedSize:
		return SigningKey{priv: ed25519.NewKeyFromSeed(b)}, nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !priv.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(b[ed25519.SeedSize:])) {
			return SigningKey{}, errors.New("webhook signing key: its last 32 bytes are not the public key of its first 32 (the seed)")
		}
		return SigningKey{priv: priv}, nil
	}
	return SigningKey{}, fmt.Errorf("webhook signing key: %d bytes, want an Ed25519 seed (%d) or seed and public key (%d)",
		len(b), ed25519.SeedSize, ed25519.PrivateKeySize)
}

// GenerateSigningKey returns a fresh key pair as whsk_ (the 32-byte seed)
// and whpk_ strings.
func GenerateSigningKey() (signingKey, publicKey string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed()),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// PublicKey is the whpk_ form of the key's public half, what receivers
// configure to verify v1a signatures.
func (k SigningKey) PublicKey() string {
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey))
}

// ParsePublicKey reads a whpk_ public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, PublicKeyPrefix) {
		return nil, fmt.Errorf("webhook public key must start with %q", PublicKeyPrefix)
	}
	b, err := decodeBase64(s[len(PublicKeyPrefix):])
	if err != nil {
		return nil, fmt.Errorf("webhook public key: the part after %s is not base64: %v", PublicKeyPrefix, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("webhook public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}
