//go:build linux

package store

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

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
)

// inChild runs the calling test again in a child process (the test binary
// itself, told by an environment variable) and reports its outcome; in
// the child it returns true and the test goes on. What the child does to
// its own process (a file size limit) leaves the other tests alone.
func inChild(t *testing.T) bool {
	t.Helper()
	const env = "IDPHOOKS_STORE_TEST_CHILD"
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
// returned function lifts the limit. Only the soft limit moves, so no
// privilege is needed to lift it.
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

// The production settings (write-behind, flush every interval) on a file
// that cannot grow: Set must say so (the token path answers 503), with one
// log line, a metric, bounded memory and retries that back off; when the
// file can grow again, writes resume on their own and what was accepted
// is in the file.
func TestFullDiskRefusesWritesAndRecovers(t *testing.T) {
	if !inChild(t) {
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	log, logs := observed()
	m, err := NewMetrics(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const maxPending = 1 << 20
	b, err := OpenBolt(path, BoltOptions{
		SweepInterval: -1, SyncEvery: 20 * time.Millisecond, WriteBehind: 5 * time.Millisecond,
		MaxPendingBytes: maxPending, Logger: log, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := b.Bucket("swaps")
	swaps := newSwaps(t, s, SwapOptions{})
	value := make([]byte, 2000)
	if err := s.Set(ctx, "before", value, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "doomed", value, time.Hour); err != nil {
		t.Fatal(err)
	}
	waitCommitted(t, b)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, uint64(fi.Size()))
	defer lift()

	// Writes are accepted until a commit fails, then refused.
	var accepted []string
	var refusal error
	for i := 0; refusal == nil; i++ {
		if i == 100_000 {
			t.Fatal("a file that cannot grow took 100,000 writes")
		}
		k := fmt.Sprint("k", i)
		if err := s.Set(ctx, k, value, time.Hour); err != nil {
			refusal = err
			break
		}
		accepted = append(accepted, k)
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	// bbolt passes the cause on as text only.
	if !errors.Is(refusal, ErrUnavailable) || !strings.Contains(refusal.Error(), syscall.EFBIG.Error()) {
		t.Fatalf("Set on a full disk = %v, want ErrUnavailable with the cause", refusal)
	}
	if err := swaps.Put(ctx, "our-token", []byte("upstream"), time.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Swaps.Put on a full disk = %v", err)
	}
	// A deletion is refused too (it may not survive a restart), but this
	// process forgets the entry at once.
	if err := s.Delete(ctx, "doomed"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Delete on a full disk = %v", err)
	}
	if _, err := s.Get(ctx, "doomed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry deleted during the failure: %v", err)
	}
	// What was accepted stays readable while it waits.
	for _, k := range accepted {
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("accepted %s not readable during the failure: %v", k, err)
		}
	}

	// A while of failure: retries back off (at 5 ms a commit, 300 of
	// them would fit in 1.5 s), memory stays bounded, one log line.
	errorsBefore := metricValue(t, m.writeErrors)
	for range 150 {
		if err := s.Set(ctx, "refused", value, time.Hour); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Set during the failure = %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("retries in 1.5 s: %v; log: %v", metricValue(t, m.writeErrors)-errorsBefore, logs.All())
	if retries := metricValue(t, m.writeErrors) - errorsBefore; retries > 10 {
		t.Errorf("%v failed attempts in 1.5 s: retries do not back off", retries)
	}
	if _, pending := b.pending.counts(); pending > maxPending {
		t.Errorf("%d bytes pending, over the bound of %d", pending, maxPending)
	}
	if got := metricValue(t, m.unwritable); got != 1 {
		t.Errorf("unwritable = %v during the failure", got)
	}
	if got := metricValue(t, m.rejected); got < 150 {
		t.Errorf("rejected_writes_total = %v", got)
	}
	if n := logs.FilterMessageSnippet("cannot write").Len(); n != 1 {
		t.Errorf("%d log lines for one failure, want 1", n)
	}

	// The disk frees up: writes resume within the longest retry delay.
	lift()
	deadline := time.Now().Add(maxRetryDelay + 5*time.Second)
	for s.Set(ctx, "after", value, time.Hour) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume after the disk freed up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.FilterMessageSnippet("writes again").FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("%d recovery log lines, want 1", n)
	}
	if got := metricValue(t, m.unwritable); got != 0 {
		t.Errorf("unwritable = %v after recovery", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything accepted, before, during and after, survived; nothing
	// refused is there, and the deletion held.
	b, err = OpenBolt(path, BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s = b.Bucket("swaps")
	for _, k := range append(accepted, "before", "after") {
		if _, err := s.Get(ctx, k); err != nil {
			t.Errorf("accepted %s lost: %v", k, err)
		}
	}
	for _, k := range []string{"refused", "doomed"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", k, err)
		}
	}
}

// Without write-behind, a Set that cannot be committed fails at once.
func TestFullDiskRefusesDirectWrites(t *testing.T) {
	if !inChild(t) {
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, SyncEvery: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := b.Bucket("swaps")
	value := make([]byte, 2000)
	if err := s.Set(ctx, "before", value, time.Hour); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lift := limitFileSize(t, uint64(fi.Size()))
	defer lift()
	var err2 error
	for i := 0; i < 10_000 && err2 == nil; i++ {
		err2 = s.Set(ctx, fmt.Sprint("k", i), value, time.Hour)
	}
	if !errors.Is(err2, ErrUnavailable) || !strings.Contains(err2.Error(), syscall.EFBIG.Error()) {
		t.Fatalf("Set on a full disk = %v", err2)
	}
	lift()
	deadline := time.Now().Add(maxRetryDelay + 5*time.Second)
	for s.Set(ctx, "after", value, time.Hour) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume after the disk freed up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.FilterMessageSnippet("cannot write").Len(); n != 1 {
		t.Errorf("%d log lines for one failure, want 1", n)
	}
}

// waitCommitted waits until nothing is pending.
func waitCommitted(t *testing.T, b *Bolt) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := b.pending.counts(); n == 0 && b.pending.committingNow() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("pending writes never committed")
		}
		time.Sleep(time.Millisecond)
	}
}

// The same on a real full disk, where mounting is allowed (root outside a
// container): a small tmpfs, filled up, then freed.
func TestFullTmpfsRefusesWritesAndRecovers(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestFullDiskRefusesWritesAndRecovers covers this with a file size limit", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	ctx := context.Background()
	path := filepath.Join(dir, "state.db")
	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, SyncEvery: 20 * time.Millisecond, WriteBehind: 5 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s := b.Bucket("swaps")
	value := make([]byte, 2000)
	// Fill the disk but for a little room.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	var accepted []string
	var refusal error
	for i := 0; i < 100_000; i++ {
		k := fmt.Sprint("k", i)
		if refusal = s.Set(ctx, k, value, time.Hour); refusal != nil {
			break
		}
		accepted = append(accepted, k)
		time.Sleep(100 * time.Microsecond)
	}
	if !errors.Is(refusal, ErrUnavailable) || !strings.Contains(refusal.Error(), syscall.ENOSPC.Error()) {
		t.Fatalf("Set on a full disk = %v, want ErrUnavailable with ENOSPC", refusal)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(maxRetryDelay + 5*time.Second)
	for s.Set(ctx, "after", value, time.Hour) != nil {
		if time.Now().After(deadline) {
			t.Fatal("writes did not resume after the disk freed up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.FilterMessageSnippet("cannot write").Len(); n != 1 {
		t.Errorf("%d log lines for one failure, want 1", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, err = OpenBolt(path, BoltOptions{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range append(accepted, "after") {
		if _, err := b.Bucket("swaps").Get(ctx, k); err != nil {
			t.Errorf("accepted %s lost: %v", k, err)
		}
	}
}
