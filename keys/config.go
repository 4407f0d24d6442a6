package keys

import (
	"fmt"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAlgorithm = "RS256"
	DefaultRSABits   = 2048
	// DefaultRotationPeriod is how long one key signs. A month keeps the
	// JWKS short while limiting what one leaked key can sign.
	DefaultRotationPeriod = 30 * 24 * time.Hour
	// DefaultPrePublish exceeds the longest JWKS cache time common relying
	// parties use (24h) plus DefaultRefreshInterval, so every node and client
	// knows a key before the first token it signed arrives.
	DefaultPrePublish = 48 * time.Hour
	// DefaultRetention outlasts any ID or access token lifetime IdPs
	// commonly issue (minutes to a day), with a wide margin.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultRefreshInterval is how often Run reloads the set, so a key
	// another node generated is published here well within DefaultPrePublish.
	DefaultRefreshInterval = time.Hour
	DefaultStorageKey      = "idphooks/keys"
)

// Config says which keys to keep and how to rotate them.
type Config struct {
	// Algorithm is the JWS algorithm new keys sign with: RS256 (default),
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA
	// (Ed25519). Changing it rotates to a key of the new kind, with the
	// usual pre-publication.
	Algorithm string

	// RSABits is the modulus size of new RSA keys. Default 2048; at least 2048.
	RSABits int

	// RotationPeriod is how long a key signs before its successor takes over.
	// Default 30 days.
	RotationPeriod time.Duration

	// PrePublish is how long a new key is published before it signs. It
	// must be longer than RefreshInterval and than the JWKS cache time of
	// relying parties. Default 48 hours.
	PrePublish time.Duration

	// Retention is how long a retired key stays published; at least the
	// longest lifetime of a token idphooks signs. Default 7 days.
	Retention time.Duration

	// RefreshInterval is how often Run reloads the set from storage and
	// rotates when due. Default 1 hour.
	RefreshInterval time.Duration

	// StorageKey prefixes the storage key of the set (StorageKey +
	// "/jwks.json") and names its lock, so several idphooks instances can
	// keep separate sets in one storage. Default "idphooks/keys".
	StorageKey string

	// Certificates makes every key of the set carry a self-signed X.509
	// certificate (stored as the JWK's x5c member), as SAML metadata and
	// signatures publish keys. Keys stored without one get one.
	Certificates bool

	// Encryption makes those certificates encryption ones (keyEncipherment
	// key usage, "encryption key" in their name), for a set peers encrypt
	// to (SAML's EncryptedAssertion). Rotation and publication are the
	// same: "signs" then means "is the one handed out first".
	Encryption bool

	// Now is the clock; tests inject one. Default time.Now.
	Now func() time.Time
}

// withDefaults returns c with zero fields filled in and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Algorithm == "" {
		c.Algorithm = DefaultAlgorithm
	}
	if c.RSABits == 0 {
		c.RSABits = DefaultRSABits
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = DefaultRotationPeriod
	}
	if c.PrePublish == 0 {
		c.PrePublish = DefaultPrePublish
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.RefreshInterval == 0 {
		c.RefreshInterval = DefaultRefreshInterval
	}
	if c.StorageKey == "" {
		c.StorageKey = DefaultStorageKey
	}
	if c.Now == nil {
		c.Now = time.Now
	}

	if _, ok := algorithms[c.Algorithm]; !ok {
		return c, fmt.Errorf("keys: unsupported algorithm %q", c.Algorithm)
	}
	if c.RSABits < 2048 {
		return c, fmt.Errorf("keys: RSA keys of %d bits are too weak; use at least 2048", c.RSABits)
	}
	if c.RotationPeriod < 0 || c.PrePublish < 0 || c.Retention < 0 || c.RefreshInterval < 0 {
		return c, fmt.Errorf("keys: durations must not be negative")
	}
	// A successor is generated PrePublish before the active key's period
	// ends; a period shorter than that would rotate on every refresh.
	if c.PrePublish >= c.RotationPeriod {
		return c, fmt.Errorf("keys: pre-publication (%s) must be shorter than the rotation period (%s)", c.PrePublish, c.RotationPeriod)
	}
	// Nodes learn of a new key only when they refresh; they must have done so
	// before it signs, or their JWKS would lack a key in use.
	if c.RefreshInterval >= c.PrePublish {
		return c, fmt.Errorf("keys: refresh interval (%s) must be shorter than pre-publication (%s)", c.RefreshInterval, c.PrePublish)
	}
	return c, nil
}

func (c Config) setKey() string   { return c.StorageKey + "/jwks.json" }
func (c Config) lockName() string { return c.StorageKey + "/jwks" }
