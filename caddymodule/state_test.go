package caddymodule

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/idphooks/idphooks/store"
)

// A state file written before the swap secret existed keeps swapping back
// its tokens after the upgrade; new entries are keyed with the secret.
func TestBoltStateReadsEntriesFromBeforeTheSecret(t *testing.T) {
	ctx, _ := provisionContext(t)
	path := filepath.Join(t.TempDir(), "state.db")
	c := context.Background()
	exp := time.Now().Add(time.Hour)

	db, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old, err := store.NewSwaps(db.Bucket("swaps"), store.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Put(c, "token-from-before", []byte("upstream-1"), exp); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	st, err := (&BoltState{Path: path}).OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.Swaps.Get(c, "token-from-before"); err != nil || string(got) != "upstream-1" {
		t.Fatalf("an entry from before the upgrade: %q, %v", got, err)
	}
	if err := st.Swaps.Put(c, "token-after", []byte("upstream-2"), exp); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Swaps.Get(c, "token-after"); err != nil || string(got) != "upstream-2" {
		t.Fatalf("a new entry: %q, %v", got, err)
	}
	st.Release()

	// The new entry is not where the unkeyed derivation looks.
	db, err = store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old, err = store.NewSwaps(db.Bucket("swaps"), store.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Get(c, "token-after"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a new entry read without the secret: %v", err)
	}
}
