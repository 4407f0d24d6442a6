// Package keys owns idphooks' own signing keys: the keys it re-signs ID
// tokens, JWT access tokens and userinfo JWTs with after a hook changed them.
//
// The key set lives in a [Storage] (in production Caddy's storage, which
// certmagic.Storage satisfies), so every node of a cluster sharing that
// storage signs with, and publishes, the same keys.
//
// # Key lifetime
//
// Every key goes through the same phases, recorded in its JWK:
//
//	created ─ PrePublish ─► sign_from ─ RotationPeriod ─► sign_until ─ Retention ─► publish_until
//	 │ published in the JWKS  │ signs new tokens           │ published, no longer signs │ dropped
//
// A new key is published PrePublish before it signs anything, so relying
// parties that cache our JWKS (and the other nodes of a cluster, which reload
// the set every RefreshInterval) know it before the first token it signed
// reaches them. A retired key stays published for Retention, so tokens it
// signed stay verifiable until they expire. Only the very first key signs at
// once: nobody can hold a stale copy of a JWKS that did not exist yet.
//
// # Stored format
//
// The set is stored as a standard JWK Set (RFC 7517) with private members,
// under Config.StorageKey + "/jwks.json". The phase times of each key are kept
// in the extra member "idphooks_timing" (RFC 7517 §4 lets a JWK carry members
// it does not define; consumers ignore them).
package keys
