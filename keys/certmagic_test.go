package keys_test

import (
	"context"
	"sync"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/idphooks/idphooks/keys"
)

// Caddy hands modules a certmagic.Storage; it must fit keys.Storage as is.
var _ keys.Storage = (certmagic.Storage)(nil)

// TestCertmagicFileStorage runs two nodes on Caddy's default storage, whose
// locks are files, the way two Caddy instances sharing a volume would.
func TestCertmagicFileStorage(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	kids := make([]string, 2)
	for i := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &certmagic.FileStorage{Path: dir}
			m, err := keys.New(context.Background(), st, keys.Config{Algorithm: "EdDSA"}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = m.Signer().KeyID
		}()
	}
	wg.Wait()
	if kids[0] == "" || kids[0] != kids[1] {
		t.Fatalf("nodes on one file storage disagree: %v", kids)
	}
}
