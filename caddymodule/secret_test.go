package caddymodule

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/certmagic"
)

// Instances that start together on one storage agree on one secret, and
// later starts read it back.
func TestSwapSecretIsSharedThroughStorage(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	secrets := make([][]byte, 4)
	var wg sync.WaitGroup
	for n := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each its own FileStorage, as separate processes would.
			b, err := swapSecret(ctx, &certmagic.FileStorage{Path: dir})
			if err != nil {
				t.Error(err)
			}
			secrets[n] = b
		}()
	}
	wg.Wait()
	for _, b := range secrets {
		if len(b) != swapSecretSize || !bytes.Equal(b, secrets[0]) {
			t.Fatalf("secrets differ: %x vs %x", b, secrets[0])
		}
	}
	again, err := swapSecret(ctx, &certmagic.FileStorage{Path: dir})
	if err != nil || !bytes.Equal(again, secrets[0]) {
		t.Fatalf("read back %x, %v", again, err)
	}
}

// A damaged secret is an error that says what to do, never a new secret:
// a new one would orphan every swap entry on this instance alone.
func TestDamagedSwapSecretIsAnError(t *testing.T) {
	s := &certmagic.FileStorage{Path: t.TempDir()}
	ctx := context.Background()
	if err := s.Store(ctx, swapSecretKey, []byte("not base64!")); err != nil {
		t.Fatal(err)
	}
	_, err := swapSecret(ctx, s)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v", err)
	}
	b, _ := s.Load(ctx, swapSecretKey)
	if string(b) != "not base64!" {
		t.Error("the damaged secret was overwritten")
	}
}
