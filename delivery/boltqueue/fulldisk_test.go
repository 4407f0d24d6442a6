//go:build linux

package boltqueue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
)

// inChild runs the calling test again in a child process (the test binary
// itself, told by an environment variable) and reports its outcome; in
// the child it returns true and the test goes on. What the child does to
// its own process (a file size limit) leaves the other tests alone.
func inChild(t *testing.T) bool {
	t.Helper()
	const env = "IDPHOOKS_BOLTQUEUE_TEST_CHILD"
	if os.Getenv(env) == t.Name() {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("child process:\n%s", out)
	if err != nil {
		t.Fatalf("child process: %v", err)
	}
	return false
}

// limitFileSize makes writes past n bytes of any file fail with EFBIG, as
// on a full disk (Go ignores the SIGXFSZ that comes with it), until the
// returned function lifts the limit.
func limitFileSize(t *testing.T, n uint64) (lift func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatal(err)
		}
	}
}

// On a file that cannot grow, Enqueue fails with ErrUnavailable (the
// request may answer 503) and stores nothing of the refused call; what
// was accepted stays, the queue takes messages again once the file can
// grow, and everything accepted is in the file after a reopen.
func TestFullDiskRefusesEnqueue(t *testing.T) {
	if !inChild(t) {
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, msg("crm", 0)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Room for a few hundred messages, then none.
	lift := limitFileSize(t, uint64(fi.Size())+1<<20)
	defer lift()
	payload := make([]byte, 3000)
	var accepted []string
	var refusal error
	for i := 1; refusal == nil; i++ {
		if i == 100_000 {
			t.Fatal("a file that cannot grow took 100,000 messages")
		}
		// Two at a time: a refused call stores neither.
		a, b := msg("crm", 2*i), msg("crm", 2*i+1)
		a.Payload, b.Payload = payload, payload
		if refusal = q.Enqueue(ctx, a, b); refusal == nil {
			accepted = append(accepted, a.ID, b.ID)
		}
	}
	t.Logf("accepted %d before the refusal: %v", len(accepted), refusal)
	if !errors.Is(refusal, delivery.ErrUnavailable) || !strings.Contains(refusal.Error(), syscall.EFBIG.Error()) {
		t.Fatalf("Enqueue on a full disk = %v, want ErrUnavailable with the cause", refusal)
	}
	refusedFirst := fmt.Sprintf("msg_%05d", 2*(len(accepted)/2+1))
	// Reads go on.
	if c, err := q.Counts(ctx); err != nil || c["crm"].Pending != len(accepted)+1 {
		t.Fatalf("counts during the failure: %v, %v", c, err)
	}
	if _, _, err := q.Lease(ctx, "other", time.Now(), 1, time.Minute); err != nil {
		t.Fatalf("an empty lease during the failure: %v", err)
	}
	lift()
	late := msg("crm", 99_999)
	if err := q.Enqueue(ctx, late); err != nil {
		t.Fatalf("Enqueue once the file can grow: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	defer q.Close()
	for _, id := range append(accepted, "msg_00000", late.ID) {
		if _, err := q.Get(ctx, id); err != nil {
			t.Errorf("accepted %s lost: %v", id, err)
		}
	}
	if _, err := q.Get(ctx, refusedFirst); !errors.Is(err, delivery.ErrNotFound) {
		t.Errorf("refused %s: %v, want ErrNotFound", refusedFirst, err)
	}
	if c, _ := q.Counts(ctx); c["crm"].Pending != len(accepted)+2 {
		t.Errorf("pending %d after reopen, want %d", c["crm"].Pending, len(accepted)+2)
	}
}
