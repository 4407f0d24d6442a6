package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observed returns a logger and what it logged.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

// metricValue reads the one value c holds.
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 10)
	c.Collect(ch)
	close(ch)
	total := 0.0
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		total += pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
	}
	return total
}

// writeStateFile makes a file of several hundred pages, as a Caddy that
// ran for a while leaves it, and returns its size.
func writeStateFile(t *testing.T, path string) int64 {
	t.Helper()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, WriteBehind: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3000 {
		v := bytes.Repeat([]byte{byte(i)}, 600)
		if err := b.Bucket("swaps").Set(ctx, fmt.Sprint("k", i), v, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// overwrite puts random bytes into the file from page first to page last
// (4 KiB pages, the size bbolt chose on this machine).
func overwrite(t *testing.T, path string, first, last int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := make([]byte, (last-first+1)*4096)
	rand.Read(garbage)
	if _, err := f.WriteAt(garbage, first*4096); err != nil {
		t.Fatal(err)
	}
}

// A damaged file must never take Caddy down: it is moved aside, with an
// error log line, and the store starts empty and works.
func TestCorruptFileIsMovedAside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string, size int64)
	}{
		{"truncated to half", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, size/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage in the data pages", func(t *testing.T, path string, size int64) {
			overwrite(t, path, 2, size/4096-1)
		}},
		{"garbage in a few pages", func(t *testing.T, path string, size int64) {
			for p := int64(2); p < size/4096; p += 17 {
				overwrite(t, path, p, p)
			}
		}},
		{"garbage in both meta pages", func(t *testing.T, path string, size int64) {
			overwrite(t, path, 0, 1)
		}},
		{"a few bytes of garbage", func(t *testing.T, path string, size int64) {
			if err := os.WriteFile(path, []byte("not a bbolt file"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"a page of garbage", func(t *testing.T, path string, size int64) {
			garbage := make([]byte, 6000)
			rand.Read(garbage)
			if err := os.WriteFile(path, garbage, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.db")
			size := writeStateFile(t, path)
			tc.corrupt(t, path, size)
			damaged, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			log, logs := observed()
			reg := prometheus.NewPedanticRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Logger: log, Metrics: m})
			if err != nil {
				t.Fatalf("open of a damaged file failed: %v", err)
			}
			defer b.Close()

			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v, want one file", aside)
			}
			kept, err := os.ReadFile(aside[0])
			if err != nil || !bytes.Equal(kept, damaged) {
				t.Errorf("the file moved aside is not the damaged one (%v)", err)
			}
			lines := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("corrupt").All()
			if len(lines) != 1 || lines[0].ContextMap()["moved_to"] != aside[0] {
				t.Errorf("error log lines about the corrupt file: %v", logs.All())
			}
			if got := metricValue(t, m.corrupt); got != 1 {
				t.Errorf("corrupt_files_total = %v", got)
			}

			// The new file works, and holds nothing of the old one.
			ctx := context.Background()
			s := b.Bucket("swaps")
			if _, err := s.Get(ctx, "k1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("entry of the damaged file: %v", err)
			}
			if err := s.Set(ctx, "new", []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Get(ctx, "new"); err != nil || string(v) != "v" {
				t.Fatalf("Get after Set = %q, %v", v, err)
			}
		})
	}
}

// bbolt keeps two meta pages and reads the newer sound one: garbage in
// one of them costs at most the last transaction, and nothing is moved.
func TestOneBadMetaPageIsSurvived(t *testing.T) {
	for page := range int64(2) {
		t.Run(fmt.Sprint("meta page ", page), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			writeStateFile(t, path)
			overwrite(t, path, page, page)
			log, logs := observed()
			b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
				t.Fatalf("moved aside: %v (%v)", aside, logs.All())
			}
			// Every entry was written in the file's one big commit, so
			// with that commit's meta page gone, they may be gone too;
			// what the store answers must be consistent either way.
			ctx := context.Background()
			_, err = b.Bucket("swaps").Get(ctx, "k1")
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get: %v", err)
			}
			if err := b.Bucket("swaps").Set(ctx, "new", []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An empty file (created, never written) is a new store: nothing to lose,
// nothing moved.
func TestEmptyFileStartsEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Bucket("swaps").Set(context.Background(), "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 || logs.FilterLevelExact(zapcore.ErrorLevel).Len() != 0 {
		t.Fatalf("an empty file was treated as corrupt: %v %v", aside, logs.All())
	}
}

// A directory where the file should be is a configuration mistake: the
// open fails with a message naming it, and nothing is moved.
func TestDirectoryInPlaceOfTheFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := OpenBolt(path, BoltOptions{SweepInterval: -1})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("open of a directory = %v", err)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the directory was touched: %v", err)
	}
}

// Damage after the open (another program writing the file, a disk that
// returns garbage) fails the calls that meet it, not the process, and the
// file is moved aside and replaced as at open, with one log line.
func TestCorruptionAtRuntimeReplacesTheFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string, size int64)
	}{
		{"garbage under the mapping", func(t *testing.T, path string, size int64) {
			overwrite(t, path, 2, size/4096-1)
		}},
		// Pages past the end of the file fault (SIGBUS) when read.
		{"file truncated under the mapping", func(t *testing.T, path string, size int64) {
			if err := os.Truncate(path, 8192); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			size := writeStateFile(t, path)
			log, logs := observed()
			m, err := NewMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, WriteBehind: time.Millisecond, Logger: log, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			tc.corrupt(t, path, size)

			ctx := context.Background()
			s := b.Bucket("swaps")
			failed := 0
			for i := range 3000 {
				if _, err := s.Get(ctx, fmt.Sprint("k", i)); err != nil && !errors.Is(err, ErrNotFound) {
					failed++
				}
			}
			if failed == 0 {
				t.Fatal("no read of a damaged file failed")
			}
			waitFor(t, "the damaged file replaced", func() bool {
				return logs.FilterMessageSnippet("corrupt while running").Len() > 0
			})
			if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if err := s.Set(ctx, "new", []byte("v"), time.Hour); err != nil {
				t.Fatalf("Set after the file was replaced = %v", err)
			}
			waitCommitted(t, b)
			if v, err := s.Get(ctx, "new"); err != nil || string(v) != "v" {
				t.Fatalf("Get from the new file = %q, %v", v, err)
			}
			if n := logs.FilterMessageSnippet("corrupt while running").Len(); n != 1 {
				t.Errorf("%d log lines about the damage, want 1: %v", n, logs.All())
			}
			if got := metricValue(t, m.corrupt); got != 1 {
				t.Errorf("corrupt_files_total = %v", got)
			}
		})
	}
}

// A file bigger than the open can check in its time is checked in the
// background; damage found there replaces the file as well.
func TestBigFileIsCheckedInTheBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	writeStateFile(t, path)
	// Damage the page of the newest record, which the walk reads last.
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(file, append([]byte("k2999"), bytes.Repeat([]byte{byte(2999 % 256)}, 16)...))
	if at < 0 {
		t.Fatal("record k2999 not in the file")
	}
	overwrite(t, path, int64(at/4096), int64(at/4096))
	defer func(d time.Duration) { checkBudget = d }(checkBudget)
	checkBudget = 0
	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if logs.FilterMessageSnippet("in the background").Len() != 1 {
		t.Fatalf("no background check: %v", logs.All())
	}
	waitFor(t, "the damaged file replaced", func() bool {
		return logs.FilterMessageSnippet("corrupt while running").Len() == 1
	})
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
	if err := b.Bucket("swaps").Set(context.Background(), "new", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A big file of the layout before the cap is read whole by the upgrade:
// damage the open's check had no time for is found there, and the file is
// moved aside all the same.
func TestDamageFoundByTheUpgradeMovesTheFileAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		bk, err := tx.CreateBucket([]byte("swaps"))
		if err != nil {
			return err
		}
		entry := append([]byte{legacyFormat, 0, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{0xEE}, 600)...)
		for i := range 5000 {
			if err := bk.Put(fmt.Appendf(nil, "k%05d", i), entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(file, []byte("k04999"))
	if at < 0 {
		t.Fatal("last key not in the file")
	}
	overwrite(t, path, int64(at/4096), int64(at/4096))

	defer func(d time.Duration) { checkBudget = d }(checkBudget)
	checkBudget = 0
	log, logs := observed()
	b, err := OpenBolt(path, BoltOptions{SweepInterval: -1, Logger: log})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer b.Close()
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("moved aside: %v (%v)", aside, logs.All())
	}
	if logs.FilterMessageSnippet("corrupt").FilterFieldKey("error").Len() != 1 ||
		!strings.Contains(fmt.Sprint(logs.FilterMessageSnippet("corrupt").All()[0].ContextMap()["error"]), "upgrading") {
		t.Errorf("the damage was not found by the upgrade: %v", logs.All())
	}
	if err := b.Bucket("swaps").Set(context.Background(), "new", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
}
