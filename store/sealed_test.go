package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The Store underneath holds neither the key nor the value in any form
// one can read; an entry written there without the secret, moved under
// another name, or sealed with another secret does not open.
func TestSealed(t *testing.T) {
	ctx := context.Background()
	under := NewMemory()
	secret := bytes.Repeat([]byte{7}, MinSwapSecret)
	z, err := NewSealed(under, secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Set(ctx, "alice@example.com", []byte(`{"crm":"gold-4711"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := z.Set(ctx, "bob@example.com", []byte(`{"crm":"none"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := z.Get(ctx, "alice@example.com")
	if err != nil || string(got) != `{"crm":"gold-4711"}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := z.Get(ctx, "carol@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing key: %v", err)
	}
	an, bn := z.name("alice@example.com"), z.name("bob@example.com")
	raw, err := under.Get(ctx, an)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(an, "alice") || bytes.Contains(raw, []byte("gold")) {
		t.Fatalf("the store underneath shows what was cached: %q %q", an, raw)
	}
	// Bob's entry moved under Alice's name.
	braw, _ := under.Get(ctx, bn)
	under.Set(ctx, an, braw, time.Minute)
	if _, err := z.Get(ctx, "alice@example.com"); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("an entry moved under another name: %v", err)
	}
	// Written by a hand without the secret.
	under.Set(ctx, an, []byte(`{"crm":"platinum"}`), time.Minute)
	if _, err := z.Get(ctx, "alice@example.com"); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("a value written without the secret: %v", err)
	}
	// Another secret names and seals otherwise.
	other, _ := NewSealed(under, bytes.Repeat([]byte{8}, MinSwapSecret))
	if _, err := other.Get(ctx, "bob@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another secret finds the entry: %v", err)
	}
	if err := z.Delete(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := z.Get(ctx, "bob@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	// An entry that expired, put back by a hand that kept a copy (with
	// no TTL), is not found: the expiry is sealed with it.
	if err := z.Set(ctx, "carol@example.com", []byte(`{"mfa":"verified"}`), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cn := z.name("carol@example.com")
	kept, err := under.Get(ctx, cn)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	under.Set(ctx, cn, kept, 0)
	if v, err := z.Get(ctx, "carol@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired entry put back: %q %v", v, err)
	}
	if _, err := NewSealed(under, []byte("short")); err == nil {
		t.Fatal("a short secret was taken")
	}
}
