package store

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrUnsealed is what Sealed's Get wraps for an entry that does not open
// under its key: written by something that does not hold the secret (a
// hand in Redis), moved from another key, or damaged.
var ErrUnsealed = errors.New("store: entry does not open")

// Sealed labels: the secret keys the names and the seal apart.
const (
	sealedNameLabel = "idphooks sealed name v1\x00"
	sealedSealLabel = "idphooks sealed value v1\x00"
	// sealedFormat 2 seals the entry's expiry with its value; 1 (never
	// released) did not.
	sealedFormat = 2
)

// Sealed is a Store whose entries another Store keeps, named by an HMAC
// of their key and sealed (XChaCha20-Poly1305, the name as associated
// data) with keys derived from a secret: a copy of the other Store shows
// neither what was cached nor under which key (hooks cache by e-mail
// address or user id), and an entry written there without the secret,
// or moved under another name, does not open (ErrUnsealed) — a hook
// never reads a value someone with write access to Redis made up. The
// expiry is sealed with the value and checked on Get: an entry that
// expired and was put back (a copy kept, restored without a TTL) is
// not found, as if the Store underneath still expired it.
type Sealed struct {
	s    Store
	mac  *hmacKey
	aead cipher.AEAD
}

// NewSealed seals entries into s with keys derived from secret (at least
// MinSwapSecret bytes; the swap secret serves, its labels are others).
func NewSealed(s Store, secret []byte) (*Sealed, error) {
	if len(secret) < MinSwapSecret {
		return nil, fmt.Errorf("store: sealing secret of %d bytes, want at least %d", len(secret), MinSwapSecret)
	}
	mac := newHMACKey(secret)
	// The sealing key is one for every entry: a random 24-byte nonce
	// (XChaCha20) keeps it safe for more writes than a cache will see.
	k := mac.sum(sealedSealLabel, "")
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		return nil, err
	}
	return &Sealed{s: s, mac: mac, aead: aead}, nil
}

func (z *Sealed) name(key string) string {
	sum := z.mac.sum(sealedNameLabel, key)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get returns the value under key, ErrNotFound, or an error wrapping
// ErrUnsealed for an entry that does not open.
func (z *Sealed) Get(ctx context.Context, key string) ([]byte, error) {
	name := z.name(key)
	b, err := z.s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	n := z.aead.NonceSize()
	if len(b) < 1+n+z.aead.Overhead() || b[0] != sealedFormat {
		return nil, fmt.Errorf("%w: malformed", ErrUnsealed)
	}
	v, err := z.aead.Open(nil, b[1:1+n], b[1+n:], []byte(name))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsealed, err)
	}
	if len(v) < 8 {
		return nil, fmt.Errorf("%w: malformed", ErrUnsealed)
	}
	if exp := int64(binary.BigEndian.Uint64(v)); exp != 0 && time.Now().UnixMilli() >= exp {
		return nil, ErrNotFound
	}
	return v[8:], nil
}

// Set seals value under key for ttl.
func (z *Sealed) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	name := z.name(key)
	n := z.aead.NonceSize()
	b := make([]byte, 1+n, 1+n+8+len(value)+z.aead.Overhead())
	b[0] = sealedFormat
	if _, err := rand.Read(b[1:]); err != nil {
		return err
	}
	// The plaintext: the expiry (Unix milliseconds, 0 for none), then
	// the value.
	plain := make([]byte, 8, 8+len(value))
	if ttl > 0 {
		binary.BigEndian.PutUint64(plain, uint64(time.Now().Add(ttl).UnixMilli()))
	}
	plain = append(plain, value...)
	defer clear(plain)
	return z.s.Set(ctx, name, z.aead.Seal(b, b[1:1+n], plain, []byte(name)), ttl)
}

// Delete removes key.
func (z *Sealed) Delete(ctx context.Context, key string) error {
	return z.s.Delete(ctx, z.name(key))
}

// Close closes the Store underneath.
func (z *Sealed) Close() error { return z.s.Close() }

var _ Store = (*Sealed)(nil)
