package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/boltqueue"
)

const crashChildEnv = "IDPHOOKS_DELIVERY_CRASH_CHILD"

// At least once across a crash: a child process (this test binary)
// enqueues under load from many producers and delivers to a loopback
// receiver, writing down each message whose Enqueue returned; it is
// killed (SIGKILL) mid-delivery. The parent opens the file again and
// delivers the rest: every accepted message is delivered at least once,
// and a message delivered twice carries the same ID and body.
func TestCrashAtLeastOnce(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild(t)
		return
	}
	dir := t.TempDir()
	path, acceptedPath := filepath.Join(dir, "queue.db"), filepath.Join(dir, "accepted")
	recv := newReceiver(t, time.Now)

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashAtLeastOnce$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "QUEUE="+path, "ACCEPTED="+acceptedPath, "RECEIVER="+recv.URL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Kill it once deliveries are well under way, enqueues still going.
	deadline := time.Now().Add(60 * time.Second)
	for recv.deliveredCount() < 2000 {
		select {
		case err := <-exited:
			t.Fatalf("the child ended by itself (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child delivered %d in a minute:\n%s", recv.deliveredCount(), out.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	deliveredBefore := recv.deliveredCount()

	accepted := readLines(t, acceptedPath)
	q, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		t.Fatalf("reopening after the kill: %v", err)
	}
	defer q.Close()
	counts, _ := q.Counts(context.Background())
	left := counts["crm"].Pending
	d, err := delivery.New(delivery.Options{Queue: q, Receivers: map[string]delivery.Receiver{"crm": {Sender: recv.sender(), Concurrency: 16}}})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	waitFor(t, "the rest to be delivered", func() bool {
		c, err := q.Counts(context.Background())
		return err == nil && c["crm"].Pending == 0
	})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	lost, dups := 0, 0
	for _, id := range accepted {
		if recv.delivered[id] == 0 {
			lost++
			if lost < 5 {
				t.Errorf("accepted %s never delivered", id)
			}
		}
	}
	for _, n := range recv.delivered {
		if n > 1 {
			dups++
		}
	}
	for _, id := range recv.mismatched {
		t.Errorf("%s came with the body of another message", id)
	}
	t.Logf("accepted %d (written down before the kill); delivered %d before the kill, %d in all; %d left in the file, delivered after; %d delivered more than once (same ID); %d lost",
		len(accepted), deliveredBefore, len(recv.delivered), left, dups, lost)
	if lost > 0 {
		t.Fatalf("%d accepted messages lost", lost)
	}
}

// crashChild enqueues and delivers until it is killed.
func crashChild(t *testing.T) {
	q, err := boltqueue.Open(os.Getenv("QUEUE"), boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := delivery.New(delivery.Options{Queue: q, Receivers: map[string]delivery.Receiver{
		"crm": {Sender: postSender{url: os.Getenv("RECEIVER")}, Concurrency: 8},
	}})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	f, err := os.OpenFile(os.Getenv("ACCEPTED"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for start := time.Now(); time.Since(start) < time.Minute; {
				id := delivery.NewID()
				m := delivery.Message{ID: id, Receiver: "crm", Event: "after_login", Time: time.Now(), Payload: fmt.Appendf(nil, `{"id":%q}`, id)}
				if err := d.Enqueue(context.Background(), m); err != nil {
					t.Error(err)
					return
				}
				// One write per line: the page cache keeps it past
				// a SIGKILL.
				mu.Lock()
				_, _ = f.WriteString(id + "\n")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Fatal("not killed within a minute")
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// A line cut by the kill is not a whole id.
		if line := s.Text(); strings.HasPrefix(line, "msg_") && len(line) == len("msg_")+36 {
			out = append(out, line)
		}
	}
	return out
}
