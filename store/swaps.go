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
// The keyed scheme has labels (and a seal format) of its own, so that no
// key of one scheme is ever a key of the other.
const (
	swapLookupLabel      = "idphooks swap lookup v1\x00"
	swapSealLabel        = "idphooks swap seal v2\x00"
	swapKeyedLookupLabel = "idphooks swap lookup v2\x00"
	swapKeyedSealLabel   = "idphooks swap seal v3\x00"
	swapKeyPrefix        = "swap/"
	sealFormat           = 2
	keyedSealFormat      = 3
)

// MinSwapSecret is the shortest SwapOptions.Secret NewSwaps takes: 256
// bits, the strength of the keys derived from it.
const MinSwapSecret = 32

// SwapOptions configures NewSwaps. The zero value is the unkeyed scheme of
// the embedded store before cluster mode.
type SwapOptions struct {
	// Secret, when set, is mixed into both keys of every entry (see
	// Swaps), so that a copy of the store, even together with a token of
	// ours, neither finds nor opens the entry without it. At least
	// MinSwapSecret bytes, shared by every instance that shares the
	// store, and kept out of the store. Empty: no secret.
	Secret []byte
	// ReadUnkeyed, with a Secret, also finds entries written without one
	// (the embedded file of a deployment that had no secret yet): Get
	// tries the keyed entry first and the unkeyed one only if there is
	// none, Delete removes both. New entries are always keyed. Without a
	// Secret there is only the unkeyed scheme, and ReadUnkeyed changes
	// nothing.
	ReadUnkeyed bool
}

// Swaps maps a token idphooks issued (after rewriting the IdP's) to what is
// needed to swap it back, typically the IdP's original token.
//
// Entries are filed under a hash of our token and encrypted with a key
// derived from it, so the store (a file on disk, a shared Redis) reveals no
// upstream token to someone who does not already hold the matching token of
// ours, and cannot be used to list or forge swaps. With a secret
// (SwapOptions.Secret), both keys are HMAC-SHA256 of the token keyed by it:
// then holding our token is not enough either, the secret is needed too.
type Swaps struct {
	store Store
	now   func() time.Time
	// write is the scheme of new entries; legacy, when set, is the
	// unkeyed scheme, only read and deleted (SwapOptions.ReadUnkeyed).
	write  *swapScheme
	legacy *swapScheme
}

// SwapPut is one swap of PutAll: Value filed for Token until Exp.
type SwapPut struct {
	Token string
	Value []byte
	Exp   time.Time
}

// NewSwaps keeps swaps in s. It fails only for a Secret shorter than
// MinSwapSecret. It keeps no reference to opts.Secret.
func NewSwaps(s Store, opts SwapOptions) (*Swaps, error) {
	w := &Swaps{store: s, now: time.Now, write: &unkeyedScheme}
	if len(opts.Secret) == 0 {
		return w, nil
	}
	if len(opts.Secret) < MinSwapSecret {
		return nil, fmt.Errorf("store: swap secret of %d bytes, want at least %d", len(opts.Secret), MinSwapSecret)
	}
	w.write = &swapScheme{
		lookupLabel: swapKeyedLookupLabel, sealLabel: swapKeyedSealLabel,
		format: keyedSealFormat, mac: newHMACKey(opts.Secret),
	}
	if opts.ReadUnkeyed {
		w.legacy = &unkeyedScheme
	}
	return w, nil
}

var errEmptyToken = errors.New("store: swap for an empty token")

// Put files value for ourToken until exp, when ourToken expires too. A
// token that has already expired is not stored: nobody can use it. It is
// PutAll of one swap.
func (w *Swaps) Put(ctx context.Context, ourToken string, value []byte, exp time.Time) error {
	return w.PutAll(ctx, SwapPut{Token: ourToken, Value: value, Exp: exp})
}

// PutAll files each swap as Put does, in one batch (SetMany): a token
// response's swaps cost one round trip to a Store on a server. An empty
// token fails the whole batch before anything is written.
func (w *Swaps) PutAll(ctx context.Context, puts ...SwapPut) error {
	for _, p := range puts {
		// An empty token would seal with a key anyone can derive.
		if p.Token == "" {
			return errEmptyToken
		}
	}
	now := w.now()
	if len(puts) == 1 {
		// Put's path: no batch to allocate.
		e, ok, err := w.write.entry(now, puts[0])
		if !ok || err != nil {
			return err
		}
		return w.store.Set(ctx, e.Key, e.Value, e.TTL)
	}
	entries := make([]Entry, 0, len(puts))
	for _, p := range puts {
		e, ok, err := w.write.entry(now, p)
		if err != nil {
			return err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil
	}
	return SetMany(ctx, w.store, entries)
}

// Get returns what was filed for ourToken, or ErrNotFound.
func (w *Swaps) Get(ctx context.Context, ourToken string) ([]byte, error) {
	v, err := w.write.get(ctx, w.store, ourToken)
	// Only a missing keyed entry falls back: one that does not open, or
	// a store that cannot answer, is an answer.
	if w.legacy != nil && errors.Is(err, ErrNotFound) {
		return w.legacy.get(ctx, w.store, ourToken)
	}
	return v, err
}

// Delete forgets the swap for ourToken, for example once it is revoked.
func (w *Swaps) Delete(ctx context.Context, ourToken string) error {
	err := w.store.Delete(ctx, w.write.lookupKey(ourToken))
	if w.legacy != nil {
		err = errors.Join(err, w.store.Delete(ctx, w.legacy.lookupKey(ourToken)))
	}
	return err
}

// swapScheme is one derivation of an entry's lookup and sealing keys from
// its token, and the seal format of its entries.
type swapScheme struct {
	lookupLabel, sealLabel string
	format                 byte
	// mac, when set, keys both derivations with the server secret:
	// HMAC-SHA256(secret, label ‖ token). Unset: SHA-256(label ‖ token).
	mac *hmacKey
}

// unkeyedScheme is the derivation of every entry written without a
// secret; those entries are stored state, so it never changes.
var unkeyedScheme = swapScheme{lookupLabel: swapLookupLabel, sealLabel: swapSealLabel, format: sealFormat}

func (s *swapScheme) derive(label, token string) [sha256.Size]byte {
	if s.mac != nil {
		return s.mac.sum(label, token)
	}
	return labelledHash(label, token)
}

func (s *swapScheme) lookupKey(token string) string {
	sum := s.derive(s.lookupLabel, token)
	// Encoded after the prefix in one buffer: EncodeToString and a
	// concatenation would copy the key once more.
	b := make([]byte, len(swapKeyPrefix)+base64.RawURLEncoding.EncodedLen(len(sum)))
	copy(b, swapKeyPrefix)
	base64.RawURLEncoding.Encode(b[len(swapKeyPrefix):], sum[:])
	return string(b)
}

// entry seals p's value under its lookup key, or reports !ok for a token
// already expired at now.
func (s *swapScheme) entry(now time.Time, p SwapPut) (e Entry, ok bool, err error) {
	ttl := p.Exp.Sub(now)
	if ttl <= 0 {
		return Entry{}, false, nil
	}
	key := s.lookupKey(p.Token)
	aead, err := s.aead(p.Token)
	if err != nil {
		return Entry{}, false, err
	}
	sealed := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(p.Value)+aead.Overhead())
	sealed[0] = s.format
	if _, err := rand.Read(sealed[1:]); err != nil {
		return Entry{}, false, err
	}
	// The lookup key is the associated data, so an entry moved under
	// another key does not open.
	sealed = aead.Seal(sealed, sealed[1:], p.Value, []byte(key))
	return Entry{Key: key, Value: sealed, TTL: ttl}, true, nil
}

func (s *swapScheme) get(ctx context.Context, st Store, token string) ([]byte, error) {
	key := s.lookupKey(token)
	sealed, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.open(key, token, sealed)
}

func (s *swapScheme) open(key, token string, sealed []byte) ([]byte, error) {
	aead, err := s.aead(token)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != s.format {
		return nil, errors.New("store: malformed swap entry")
	}
	value, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("store: swap entry does not open: %w", err)
	}
	return value, nil
}

// aead derives the sealing key. The tokens are high-entropy secrets (signed
// JWTs, random opaque tokens), for which a domain-separated hash (or, with
// a secret, HMAC) is a sound KDF; HKDF, whose extract step exists for
// non-uniform input, cost twice the time and ten times the allocations on
// every token response.
func (s *swapScheme) aead(token string) (cipher.AEAD, error) {
	key := s.derive(s.sealLabel, token)
	// ChaCha20-Poly1305 rather than AES-GCM: a key is used for one small
	// value, and AES-GCM's per-key setup allocated 5 KiB on every token
	// response.
	return chacha20poly1305.New(key[:])
}

// swapLookupKey is the unkeyed lookup key of token.
func swapLookupKey(token string) string { return unkeyedScheme.lookupKey(token) }

// labelledHash is SHA-256(label ‖ token), hashed from a stack buffer: a
// token response hashes its tokens four times, and a hash.Hash plus a
// []byte copy of each token were most of what storing a swap allocated.
func labelledHash(label, token string) [sha256.Size]byte {
	var stack [2048]byte
	b := append(stack[:0], label...)
	return sha256.Sum256(append(b, token...))
}

// hmacKey computes HMAC-SHA256 with one key by its definition (RFC 2104),
// H((K0 ⊕ opad) ‖ H((K0 ⊕ ipad) ‖ message)), over stack buffers as
// labelledHash does: crypto/hmac would cost a hash.Hash (or a pool of
// them) and a []byte copy of each token. TestHMACKey checks it against
// crypto/hmac.
type hmacKey struct {
	ipad, opad [sha256.BlockSize]byte
}

func newHMACKey(secret []byte) *hmacKey {
	// K0: a key longer than a block is hashed first; K0 is zero-padded.
	var k0 [sha256.BlockSize]byte
	if len(secret) > sha256.BlockSize {
		sum := sha256.Sum256(secret)
		copy(k0[:], sum[:])
	} else {
		copy(k0[:], secret)
	}
	h := &hmacKey{}
	for i, b := range k0 {
		h.ipad[i] = b ^ 0x36
		h.opad[i] = b ^ 0x5c
	}
	return h
}

// sum is HMAC-SHA256(K, label ‖ token).
func (h *hmacKey) sum(label, token string) [sha256.Size]byte {
	var stack [2048]byte
	b := append(stack[:0], h.ipad[:]...)
	b = append(b, label...)
	inner := sha256.Sum256(append(b, token...))
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], h.opad[:])
	copy(outer[sha256.BlockSize:], inner[:])
	return sha256.Sum256(outer[:])
}
