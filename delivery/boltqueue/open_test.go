package boltqueue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// A file that is not a sound queue file is refused at open with a clear
// error, never a panic, and left as it is.
func TestOpenRefusesBadFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A real queue file, with messages, to damage.
	good := filepath.Join(dir, "good.db")
	q, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := q.Enqueue(ctx, msg("crm", i)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := os.Getpagesize()

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	// Every page after the meta pages overwritten.
	scribbled := append([]byte(nil), goodBytes...)
	for i := 2 * pageSize; i < len(scribbled); i++ {
		scribbled[i] = byte(i * 13)
	}
	// Both meta pages damaged.
	metas := append([]byte(nil), goodBytes...)
	for _, off := range []int{40, pageSize + 40} { // inside the checksummed meta
		metas[off] ^= 0xff
	}
	other := filepath.Join(dir, "other.db")
	db, err := bbolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("swaps")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, c := range []struct {
		name, path, want string
		corrupt          bool
	}{
		{"garbage", write("garbage.db", garbage), "corrupt", true},
		{"short", write("short.db", []byte("not a database")), "corrupt", true},
		{"truncated", write("truncated.db", goodBytes[:len(goodBytes)/2]), "corrupt", true},
		{"scribbled pages", write("scribbled.db", scribbled), "corrupt", true},
		{"both meta pages", write("metas.db", metas), "corrupt", true},
		{"another bbolt file", other, "not a queue file", false},
		{"a directory", dir, "not a regular file", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, err := Open(c.path, Options{Timeout: time.Second})
			if err == nil {
				q.Close()
				t.Fatal("opened")
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrCorrupt) != c.corrupt {
				t.Fatalf("error %q, want one saying %q (ErrCorrupt: %v)", err, c.want, c.corrupt)
			}
			if c.corrupt {
				if _, err := os.Stat(c.path); err != nil {
					t.Fatalf("the bad file is gone: %v", err)
				}
			}
		})
	}

	// A second open of a file in use gives up with a clear error.
	q, err = Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := Open(good, Options{Timeout: 50 * time.Millisecond}); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("second open: %v", err)
	}
}
