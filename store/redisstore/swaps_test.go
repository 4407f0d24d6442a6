package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/idphooks/idphooks/store"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// The swap table on Redis, keyed: a token response's swaps in one
// transaction, read back by another instance (another Conn on the same
// prefix), a 503's ErrUnavailable while Redis is down.
func TestSwapsOnRedis(t *testing.T) {
	ctx := context.Background()
	prefix := newPrefix()
	conn := newConn(t, prefix, nil)
	one, err := store.NewSwaps(New(conn).Bucket("swaps"), store.SwapOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	two, err := store.NewSwaps(New(newConn(t, prefix, nil)).Bucket("swaps"), store.SwapOptions{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	before := execCalls(t, conn)
	err = one.PutAll(ctx,
		store.SwapPut{Token: "access", Value: []byte("up-access"), Exp: exp},
		store.SwapPut{Token: "refresh", Value: []byte("up-refresh"), Exp: exp},
		store.SwapPut{Token: "id", Value: []byte("up-id"), Exp: exp},
	)
	if err != nil {
		t.Fatal(err)
	}
	if n := execCalls(t, conn) - before; n != 1 {
		t.Fatalf("%d transactions for a token response's swaps, want 1", n)
	}
	for tok, want := range map[string]string{"access": "up-access", "refresh": "up-refresh", "id": "up-id"} {
		if got, err := two.Get(ctx, tok); err != nil || string(got) != want {
			t.Fatalf("other instance: Get(%s) = %q, %v", tok, got, err)
		}
	}
	if err := two.Delete(ctx, "access"); err != nil {
		t.Fatal(err)
	}
	if _, err := one.Get(ctx, "access"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("swap deleted by the other instance: %v", err)
	}

	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	defer server.Restart()
	if err := one.Put(ctx, "new", []byte("v"), exp); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put with Redis down: %v", err)
	}
	if err := one.PutAll(ctx, store.SwapPut{Token: "a", Exp: exp}, store.SwapPut{Token: "b", Exp: exp}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("PutAll with Redis down: %v", err)
	}
	if _, err := one.Get(ctx, "refresh"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get with Redis down: %v", err)
	}
}
