package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"

	"go.etcd.io/bbolt"
)

const (
	ourToken      = "eyJhbGciOiJSUzI1NiJ9.our-rewritten-token.sig"
	upstreamToken = "eyJhbGciOiJSUzI1NiJ9.the-idps-original-token.sig"
)

// testSecret is a server secret of the minimum size.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// newSwaps is NewSwaps, failing the test on an error.
func newSwaps(t testing.TB, s Store, opts SwapOptions) *Swaps {
	t.Helper()
	w, err := NewSwaps(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// swapSchemes runs f without a secret, with one, and with one reading
// unkeyed entries too.
func swapSchemes(t *testing.T, f func(t *testing.T, opts SwapOptions)) {
	for name, opts := range map[string]SwapOptions{
		"unkeyed":      {},
		"keyed":        {Secret: testSecret},
		"keyed-legacy": {Secret: testSecret, ReadUnkeyed: true},
	} {
		t.Run(name, func(t *testing.T) { f(t, opts) })
	}
}

func TestSwapsRoundTrip(t *testing.T) {
	swapSchemes(t, func(t *testing.T, opts SwapOptions) {
		implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
			ctx := context.Background()
			w := newSwaps(t, s, opts)
			w.now = clock.Now
			if err := w.Put(ctx, ourToken, []byte(upstreamToken), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got, err := w.Get(ctx, ourToken)
			if err != nil || string(got) != upstreamToken {
				t.Fatalf("Get = %q, %v", got, err)
			}
			if _, err := w.Get(ctx, ourToken+"x"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("another token found a swap: %v", err)
			}

			clock.Add(time.Hour)
			if _, err := w.Get(ctx, ourToken); !errors.Is(err, ErrNotFound) {
				t.Fatalf("swap outlived its token: %v", err)
			}

			if err := w.Put(ctx, "expired", []byte("x"), clock.Now()); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Get(ctx, "expired"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("swap of an expired token stored: %v", err)
			}

			if err := w.Put(ctx, ourToken, []byte(upstreamToken), clock.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := w.Delete(ctx, ourToken); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Get(ctx, ourToken); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted swap: %v", err)
			}
		})
	})
}

// PutAll through a Batcher (Memory) and one Set at a time (Bolt).
func TestSwapsPutAll(t *testing.T) {
	swapSchemes(t, func(t *testing.T, opts SwapOptions) {
		implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
			ctx := context.Background()
			w := newSwaps(t, s, opts)
			w.now = clock.Now
			now := clock.Now()
			if err := w.PutAll(ctx); err != nil {
				t.Fatalf("no swaps: %v", err)
			}
			err := w.PutAll(ctx,
				SwapPut{Token: "access", Value: []byte("up-access"), Exp: now.Add(time.Minute)},
				SwapPut{Token: "refresh", Value: []byte("up-refresh"), Exp: now.Add(time.Hour)},
				SwapPut{Token: "expired", Value: []byte("x"), Exp: now},
			)
			if err != nil {
				t.Fatal(err)
			}
			for tok, want := range map[string]string{"access": "up-access", "refresh": "up-refresh"} {
				if got, err := w.Get(ctx, tok); err != nil || string(got) != want {
					t.Fatalf("Get(%s) = %q, %v", tok, got, err)
				}
			}
			if _, err := w.Get(ctx, "expired"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("swap of an expired token stored: %v", err)
			}
			clock.Add(time.Minute)
			if _, err := w.Get(ctx, "access"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("swap outlived its token: %v", err)
			}
			if _, err := w.Get(ctx, "refresh"); err != nil {
				t.Fatalf("the batch's other swap: %v", err)
			}
			// Only expired swaps: nothing to write, no error.
			if err := w.PutAll(ctx, SwapPut{Token: "a", Exp: now}, SwapPut{Token: "b", Exp: now}); err != nil {
				t.Fatal(err)
			}
			// An empty token fails the batch before anything is written.
			err = w.PutAll(ctx,
				SwapPut{Token: "first", Value: []byte("v"), Exp: clock.Now().Add(time.Hour)},
				SwapPut{Token: "", Value: []byte("v"), Exp: clock.Now().Add(time.Hour)},
			)
			if err == nil {
				t.Fatal("a batch with an empty token stored")
			}
			if _, err := w.Get(ctx, "first"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a swap of a refused batch was stored: %v", err)
			}
		})
	})
}

// TestSwapsFileRevealsNoTokens reads the bbolt file as a thief would.
func TestSwapsFileRevealsNoTokens(t *testing.T) {
	swapSchemes(t, func(t *testing.T, opts SwapOptions) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "state.db")
		b := openTestBolt(t, path, nil)
		w := newSwaps(t, b.Bucket("swaps"), opts)
		if err := w.Put(ctx, ourToken, []byte(upstreamToken), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}

		var raw [][]byte
		err := b.db.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(_ []byte, bk *bbolt.Bucket) error {
				return bk.ForEach(func(k, v []byte) error {
					raw = append(raw, bytes.Clone(k), bytes.Clone(v))
					return nil
				})
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, file)
		for _, secret := range []string{upstreamToken, ourToken, "the-idps-original-token", "our-rewritten-token", string(testSecret)} {
			for _, r := range raw {
				if bytes.Contains(r, []byte(secret)) {
					t.Fatalf("stored bytes contain %q", secret)
				}
			}
		}
	})
}

func TestSwapsRejectTamperedEntries(t *testing.T) {
	swapSchemes(t, func(t *testing.T, opts SwapOptions) {
		ctx := context.Background()
		m := NewMemory()
		defer m.Close()
		w := newSwaps(t, m, opts)
		exp := time.Now().Add(time.Hour)
		if err := w.Put(ctx, "token-a", []byte("upstream-a"), exp); err != nil {
			t.Fatal(err)
		}
		if err := w.Put(ctx, "token-b", []byte("upstream-b"), exp); err != nil {
			t.Fatal(err)
		}
		keyA, keyB := w.write.lookupKey("token-a"), w.write.lookupKey("token-b")

		sealed, _ := m.Get(ctx, keyA)
		sealed[len(sealed)-1] ^= 1
		_ = m.Set(ctx, keyA, sealed, time.Hour)
		if _, err := w.Get(ctx, "token-a"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("a flipped bit went unnoticed: %v", err)
		}

		// Someone with write access to the store cannot point one token
		// at another's upstream token.
		other, _ := m.Get(ctx, keyB)
		_ = m.Set(ctx, keyA, other, time.Hour)
		if got, err := w.Get(ctx, "token-a"); err == nil {
			t.Fatalf("entry moved under another token opened: %q", got)
		}
	})
}

func TestSwapsRefuseEmptyToken(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if err := newSwaps(t, m, SwapOptions{}).Put(context.Background(), "", []byte("x"), time.Now().Add(time.Hour)); err == nil {
		t.Fatal("swap for an empty token stored")
	}
}

func TestNewSwapsSecretSize(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if _, err := NewSwaps(m, SwapOptions{Secret: testSecret[:MinSwapSecret-1]}); err == nil {
		t.Fatal("a secret of 31 bytes accepted")
	}
	for _, s := range [][]byte{nil, {}, testSecret, bytes.Repeat(testSecret, 3)} {
		if _, err := NewSwaps(m, SwapOptions{Secret: s}); err != nil {
			t.Fatalf("secret of %d bytes: %v", len(s), err)
		}
	}
}

func TestSwapKeysAreDomainSeparated(t *testing.T) {
	keyed := newSwaps(t, NewMemory(), SwapOptions{Secret: testSecret}).write
	for _, s := range []*swapScheme{&unkeyedScheme, keyed} {
		key := s.lookupKey(ourToken)
		if strings.Contains(key, ourToken) {
			t.Fatal("lookup key contains the token")
		}
		if s.lookupKey("a") == s.lookupKey("b") {
			t.Fatal("distinct tokens share a lookup key")
		}
		if lookup, seal := s.derive(s.lookupLabel, ourToken), s.derive(s.sealLabel, ourToken); lookup == seal {
			t.Fatal("the lookup key is the sealing key")
		}
	}
	if keyed.lookupKey(ourToken) == unkeyedScheme.lookupKey(ourToken) {
		t.Fatal("keyed and unkeyed lookup keys agree")
	}
}

// The lookup and sealing keys are stored state: entries written by an
// earlier build must still be found and opened after an upgrade. These are
// SHA-256(label ‖ token) computed outside Go, for a short token and for
// one longer than the stack buffer labelledHash starts with.
func TestSwapKeyDerivationIsStable(t *testing.T) {
	for _, c := range []struct{ token, lookup, seal string }{
		{"token-a", "swap/zZ1aj-mKOt1QUrhpVnp6AczEpfITq4OjHfn26bQGeIM", "6f34d9e87fe218c8f44497a5cf6e86ea5f67aa28ca451542bf03fda97b1a8b0c"},
		{strings.Repeat("token-a", 300), "swap/Gb-TnvJ3oETWxiLTohK0qjVLdrDbsQXQ0U-JTjf9AY8", "9b49a675053a0e902779c52066437572aed04d895873136771ca264f76b56cae"},
	} {
		if got := swapLookupKey(c.token); got != c.lookup {
			t.Errorf("lookup key of a %d-byte token: %s, want %s", len(c.token), got, c.lookup)
		}
		if seal := labelledHash(swapSealLabel, c.token); hex.EncodeToString(seal[:]) != c.seal {
			t.Errorf("seal key of a %d-byte token: %x", len(c.token), seal)
		}
	}
}

// The keyed derivation is stored state too: HMAC-SHA256(secret, label ‖
// token) computed outside Go (Python's hmac) with the secret 0x00…0x1f.
func TestKeyedSwapKeyDerivationIsStable(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	s := newSwaps(t, NewMemory(), SwapOptions{Secret: secret}).write
	for _, c := range []struct{ token, lookup, seal string }{
		{"token-a", "swap/Vz_vitpMriIxpJu2k1_fGupqFPpkB0qRGD4Yinte0d4", "b3f05acabddc00030c3688f29bbe3d8d04b28e8c8af9cc89731dbba28360904f"},
		{strings.Repeat("token-a", 300), "swap/z1O6_GDAkwS5r2Lw657mm1BS2uZM-WgwYP6DS1BdOog", "3db0fca74e14137d0cac6e99cf56097dc75264e69b7ffbf6eb1321ab8a56edfe"},
	} {
		if got := s.lookupKey(c.token); got != c.lookup {
			t.Errorf("keyed lookup key of a %d-byte token: %s, want %s", len(c.token), got, c.lookup)
		}
		if seal := s.derive(swapKeyedSealLabel, c.token); hex.EncodeToString(seal[:]) != c.seal {
			t.Errorf("keyed seal key of a %d-byte token: %x", len(c.token), seal)
		}
	}
}

// hmacKey is crypto/hmac's HMAC-SHA256, for keys shorter than, as long
// as and longer than a block, and messages around the block and stack
// buffer sizes.
func TestHMACKey(t *testing.T) {
	label := swapKeyedLookupLabel
	for _, keyLen := range []int{32, 63, 64, 65, 200} {
		key := bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, keyLen)[:keyLen]
		h := newHMACKey(key)
		for _, n := range []int{0, 1, 7, 31, 32, 55, 56, 63, 64, 65, 119, 120, 2048 - 64 - len(label) - 1, 2048 - 64 - len(label), 2048 - 64 - len(label) + 1, 5000} {
			token := strings.Repeat("tok3n.", n/6+1)[:n]
			want := hmac.New(sha256.New, key)
			want.Write([]byte(label + token))
			if got := h.sum(label, token); !bytes.Equal(got[:], want.Sum(nil)) {
				t.Errorf("key of %d bytes, message of %d: %x, want %x", keyLen, len(label)+n, got, want.Sum(nil))
			}
		}
	}
}

// The upgrade of an embedded file: entries written without a secret are
// still found and deleted by Swaps with a secret and ReadUnkeyed, and not
// by Swaps with a secret alone; new entries are keyed only.
func TestSwapsReadUnkeyed(t *testing.T) {
	implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
		ctx := context.Background()
		exp := clock.Now().Add(time.Hour)
		before := newSwaps(t, s, SwapOptions{})
		before.now = clock.Now
		if err := before.PutAll(ctx,
			SwapPut{Token: "old-a", Value: []byte("up-a"), Exp: exp},
			SwapPut{Token: "old-b", Value: []byte("up-b"), Exp: exp},
		); err != nil {
			t.Fatal(err)
		}
		after := newSwaps(t, s, SwapOptions{Secret: testSecret, ReadUnkeyed: true})
		after.now = clock.Now
		strict := newSwaps(t, s, SwapOptions{Secret: testSecret})
		strict.now = clock.Now

		if got, err := after.Get(ctx, "old-a"); err != nil || string(got) != "up-a" {
			t.Fatalf("unkeyed entry after the upgrade: %q, %v", got, err)
		}
		if _, err := strict.Get(ctx, "old-a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Swaps without ReadUnkeyed read an unkeyed entry: %v", err)
		}
		if err := after.Delete(ctx, "old-a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, swapLookupKey("old-a")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unkeyed entry after Delete: %v", err)
		}

		// New writes are keyed only: the unkeyed scheme does not find them.
		if err := after.Put(ctx, "new", []byte("up-new"), exp); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, swapLookupKey("new")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a new entry was written unkeyed: %v", err)
		}
		if got, err := strict.Get(ctx, "new"); err != nil || string(got) != "up-new" {
			t.Fatalf("keyed entry: %q, %v", got, err)
		}

		// A token with both entries (swapped again after the upgrade):
		// the keyed one wins, Delete removes both.
		if err := after.Put(ctx, "old-b", []byte("up-b2"), exp); err != nil {
			t.Fatal(err)
		}
		if got, _ := after.Get(ctx, "old-b"); string(got) != "up-b2" {
			t.Fatalf("Get with both entries = %q, want the keyed one", got)
		}
		if err := after.Delete(ctx, "old-b"); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{swapLookupKey("old-b"), after.write.lookupKey("old-b")} {
			if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("an entry of old-b after Delete: %v", err)
			}
		}
	})
}

// A keyed entry that does not open is an error, not a reason to read the
// unkeyed one.
func TestSwapsReadUnkeyedOnlyWhenMissing(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	defer m.Close()
	exp := time.Now().Add(time.Hour)
	if err := newSwaps(t, m, SwapOptions{}).Put(ctx, ourToken, []byte("old"), exp); err != nil {
		t.Fatal(err)
	}
	w := newSwaps(t, m, SwapOptions{Secret: testSecret, ReadUnkeyed: true})
	if err := m.Set(ctx, w.write.lookupKey(ourToken), []byte{keyedSealFormat, 1, 2, 3}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Get(ctx, ourToken); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get = %q, %v; want the keyed entry's error", got, err)
	}
}

// A copy of the store (a Redis dump, the bbolt file) with one of our
// tokens but without the secret: the token's unkeyed key holds nothing,
// Swaps without the secret or with another find nothing, and the entry,
// found by its key, opens neither with another secret nor with the keyed
// labels hashed without one.
func TestSwapsStoreCopyWithoutSecret(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	defer m.Close()
	w := newSwaps(t, m, SwapOptions{Secret: testSecret})
	if err := w.Put(ctx, ourToken, []byte(upstreamToken), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, swapLookupKey(ourToken)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the unkeyed key of our token holds an entry: %v", err)
	}
	wrongSecret := bytes.Repeat([]byte("x"), MinSwapSecret)
	for name, opts := range map[string]SwapOptions{"no secret": {}, "another secret": {Secret: wrongSecret, ReadUnkeyed: true}} {
		if got, err := newSwaps(t, m, opts).Get(ctx, ourToken); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Swaps with %s: %q, %v", name, got, err)
		}
	}

	key := w.write.lookupKey(ourToken)
	sealed, err := m.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	wrong := newSwaps(t, m, SwapOptions{Secret: wrongSecret}).write
	unsecret := &swapScheme{lookupLabel: swapKeyedLookupLabel, sealLabel: swapKeyedSealLabel, format: keyedSealFormat}
	for name, s := range map[string]*swapScheme{"another secret": wrong, "no secret": unsecret, "the unkeyed scheme": &unkeyedScheme} {
		if got, err := s.open(key, ourToken, sealed); err == nil {
			t.Fatalf("the keyed entry opened with %s: %q", name, got)
		}
	}
	if got, err := w.write.open(key, ourToken, sealed); err != nil || string(got) != upstreamToken {
		t.Fatalf("with the secret: %q, %v", got, err)
	}

	m.mu.RLock()
	defer m.mu.RUnlock()
	for k, e := range m.entries {
		for _, secret := range [][]byte{[]byte(upstreamToken), []byte(ourToken), testSecret} {
			if strings.Contains(k, string(secret)) || bytes.Contains(e.value, secret) {
				t.Fatalf("the store holds %q", secret)
			}
		}
	}
}
