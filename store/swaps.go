package store

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Labels keep the lookup key and the sealing key of one token unrelated:
// knowing the lookup key (it is in the store) says nothing of the other.
const (
	swapLookupLabel = "idphooks swap lookup v1\x00"
	swapSealLabel   = "idphooks swap seal v2\x00"
	swapKeyPrefix   = "swap/"
	sealFormat      = 2
)

// Swaps maps a token idphooks issued (after rewriting the IdP's) to what is
// needed to swap it back, typically the IdP's original token.
//
// Entries are filed under a hash of our token and encrypted with a key
// derived from it, so the store (a file on disk, a shared Redis) reveals no
// upstream token to someone who does not already hold the matching token of
// ours, and cannot be used to list or forge swaps.
type Swaps struct {
	store Store
	now   func() time.Time
}

// NewSwaps keeps swaps in s.
func NewSwaps(s Store) *Swaps {
	return &Swaps{store: s, now: time.Now}
}

// Put files value for ourToken until exp, when ourToken expires too. A
// token that has already expired is not stored: nobody can use it.
func (w *Swaps) Put(ctx context.Context, ourToken string, value []byte, exp time.Time) error {
	// An empty token would seal with a key anyone can derive.
	if ourToken == "" {
		return errors.New("store: swap for an empty token")
	}
	ttl := exp.Sub(w.now())
	if ttl <= 0 {
		return nil
	}
	key := swapLookupKey(ourToken)
	aead, err := swapAEAD(ourToken)
	if err != nil {
		return err
	}
	sealed := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(value)+aead.Overhead())
	sealed[0] = sealFormat
	if _, err := rand.Read(sealed[1:]); err != nil {
		return err
	}
	// The lookup key is the associated data, so an entry moved under
	// another key does not open.
	sealed = aead.Seal(sealed, sealed[1:], value, []byte(key))
	return w.store.Set(ctx, key, sealed, ttl)
}

// Get returns what was filed for ourToken, or ErrNotFound.
func (w *Swaps) Get(ctx context.Context, ourToken string) ([]byte, error) {
	key := swapLookupKey(ourToken)
	sealed, err := w.store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	aead, err := swapAEAD(ourToken)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealFormat {
		return nil, errors.New("store: malformed swap entry")
	}
	value, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("store: swap entry does not open: %w", err)
	}
	return value, nil
}

// Delete forgets the swap for ourToken, for example once it is revoked.
func (w *Swaps) Delete(ctx context.Context, ourToken string) error {
	return w.store.Delete(ctx, swapLookupKey(ourToken))
}

func swapLookupKey(token string) string {
	sum := labelledHash(swapLookupLabel, token)
	// Encoded after the prefix in one buffer: EncodeToString and a
	// concatenation would copy the key once more.
	b := make([]byte, len(swapKeyPrefix)+base64.RawURLEncoding.EncodedLen(len(sum)))
	copy(b, swapKeyPrefix)
	base64.RawURLEncoding.Encode(b[len(swapKeyPrefix):], sum[:])
	return string(b)
}

// labelledHash is SHA-256(label ‖ token), hashed from a stack buffer: a
// token response hashes its tokens four times, and a hash.Hash plus a
// []byte copy of each token were most of what storing a swap allocated.
func labelledHash(label, token string) [sha256.Size]byte {
	var stack [2048]byte
	b := append(stack[:0], label...)
	return sha256.Sum256(append(b, token...))
}

// swapAEAD derives the sealing key as SHA-256(label ‖ token). The tokens are
// high-entropy secrets (signed JWTs, random opaque tokens), for which a
// domain-separated hash is a sound KDF; HKDF, whose extract step exists for
// non-uniform input, cost twice the time and ten times the allocations on
// every token response.
func swapAEAD(token string) (cipher.AEAD, error) {
	key := labelledHash(swapSealLabel, token)
	// ChaCha20-Poly1305 rather than AES-GCM: a key is used for one small
	// value, and AES-GCM's per-key setup allocated 5 KiB on every token
	// response.
	return chacha20poly1305.New(key[:])
}
