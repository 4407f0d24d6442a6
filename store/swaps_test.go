package store

import (
	"bytes"
	"context"
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

func TestSwapsRoundTrip(t *testing.T) {
	implementations(t, func(t *testing.T, s Store, clock *fakeclock.Clock) {
		ctx := context.Background()
		w := NewSwaps(s)
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
}

// TestSwapsFileRevealsNoTokens reads the bbolt file as a thief would.
func TestSwapsFileRevealsNoTokens(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	b := openTestBolt(t, path, nil)
	w := NewSwaps(b.Bucket("swaps"))
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
	for _, secret := range []string{upstreamToken, ourToken, "the-idps-original-token", "our-rewritten-token"} {
		for _, r := range raw {
			if bytes.Contains(r, []byte(secret)) {
				t.Fatalf("stored bytes contain %q", secret)
			}
		}
	}
}

func TestSwapsRejectTamperedEntries(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	defer m.Close()
	w := NewSwaps(m)
	exp := time.Now().Add(time.Hour)
	if err := w.Put(ctx, "token-a", []byte("upstream-a"), exp); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, "token-b", []byte("upstream-b"), exp); err != nil {
		t.Fatal(err)
	}

	sealed, _ := m.Get(ctx, swapLookupKey("token-a"))
	sealed[len(sealed)-1] ^= 1
	_ = m.Set(ctx, swapLookupKey("token-a"), sealed, time.Hour)
	if _, err := w.Get(ctx, "token-a"); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("a flipped bit went unnoticed: %v", err)
	}

	// Someone with write access to the store cannot point one token at
	// another's upstream token.
	other, _ := m.Get(ctx, swapLookupKey("token-b"))
	_ = m.Set(ctx, swapLookupKey("token-a"), other, time.Hour)
	if got, err := w.Get(ctx, "token-a"); err == nil {
		t.Fatalf("entry moved under another token opened: %q", got)
	}
}

func TestSwapsRefuseEmptyToken(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if err := NewSwaps(m).Put(context.Background(), "", []byte("x"), time.Now().Add(time.Hour)); err == nil {
		t.Fatal("swap for an empty token stored")
	}
}

func TestSwapKeysAreDomainSeparated(t *testing.T) {
	key := swapLookupKey(ourToken)
	if strings.Contains(key, ourToken) {
		t.Fatal("lookup key contains the token")
	}
	if swapLookupKey("a") == swapLookupKey("b") {
		t.Fatal("distinct tokens share a lookup key")
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
