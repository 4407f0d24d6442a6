package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"

	"go.etcd.io/bbolt"
)

// BenchmarkFileSize reports the state file's bytes per rewritten token
// answer: two swap entries, the access token's (5 minutes) and the ID
// token's (an hour, plus the day the ID token is kept for logout hints),
// each carrying an upstream token, sealed by Swaps, committed every five
// answers as the write-behind does at about 100 answers a second.
//
//   - fresh: 10,000 answers in a row, nothing expired yet (the figure the
//     README gives).
//   - day: 10,000 answers, one every 10 s for 28 hours with the sweep
//     every minute: the steady state, per answer kept.
//
// Upstream tokens of 700/600 bytes (a test IdP's) and 1300/1100 (a
// Keycloak realm with roles).
func BenchmarkFileSize(b *testing.B) {
	for _, sz := range []struct {
		name    string
		at, idt int
	}{{"tokens-700", 700, 600}, {"tokens-1300", 1300, 1100}} {
		for _, day := range []bool{false, true} {
			name := sz.name + "/fresh"
			if day {
				name = sz.name + "/day"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					file, used, kept := fileSize(b, sz.at, sz.idt, day)
					b.ReportMetric(file, "file-B/answer")
					b.ReportMetric(used, "pages-B/answer")
					b.ReportMetric(float64(kept), "answers-kept")
				}
			})
		}
	}
}

// fileSize returns the file's bytes and the bytes of its pages in use
// (bbolt grows a file ahead of its use) per answer kept.
func fileSize(b *testing.B, atSize, idtSize int, day bool) (file, used float64, kept int) {
	const n = 10_000
	ctx := context.Background()
	clock := fakeclock.New()
	path := filepath.Join(b.TempDir(), "state.db")
	db, err := OpenBolt(path, BoltOptions{SweepInterval: -1, SyncEvery: time.Hour, WriteBehind: time.Hour, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	w := newSwaps(b, db.Bucket("swaps"), SwapOptions{})
	w.now = clock.Now
	token := func(n int) string {
		raw := make([]byte, n*3/4)
		rand.Read(raw)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	for i := range n {
		at := `{"u":"` + token(atSize) + `","c":"web-app"}`
		idt := `{"u":"` + token(idtSize) + `","c":"web-app"}`
		if err := w.Put(ctx, token(900), []byte(at), clock.Now().Add(5*time.Minute)); err != nil {
			b.Fatal(err)
		}
		if err := w.Put(ctx, token(900), []byte(idt), clock.Now().Add(25*time.Hour)); err != nil {
			b.Fatal(err)
		}
		if i%5 == 4 {
			if err := db.commit(); err != nil {
				b.Fatal(err)
			}
		}
		if day {
			clock.Add(10 * time.Second)
			if i%6 == 5 {
				if _, err := db.Sweep(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := db.commit(); err != nil {
		b.Fatal(err)
	}
	kept = n
	if day {
		if _, err := db.Sweep(); err != nil {
			b.Fatal(err)
		}
		// ID tokens of the last 25 hours (and the last 5 minutes' access
		// tokens) are kept.
		kept = min(n, int(25*time.Hour/(10*time.Second)))
	}
	var pages int64
	if err := db.db.View(func(tx *bbolt.Tx) error { pages = tx.Size(); return nil }); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(fi.Size()) / float64(kept), float64(pages) / float64(kept), kept
}
