package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"
)

// openChecked opens the file at path and checks it before anything reads
// it. A file that is not a sound bbolt file (truncated, garbage in its
// pages, both meta pages bad) is moved aside to
// <path>.corrupt-<UTC time> and an empty file is started in its place,
// with an error log line.
//
// Moving aside rather than refusing to start: the file holds only swaps
// and the hooks' cache, which come back as clients log in again, while a
// refusal would keep every site of the Caddy down (in a crash loop under
// a supervisor) until someone deletes the file. The bad file is kept for
// inspection. A directory or other non-file at path is a configuration
// mistake, not damage, and is refused.
func openChecked(path string, opts BoltOptions) (db *bbolt.DB, complete bool, err error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		what := "directory"
		if !fi.IsDir() {
			what = "special file (" + fi.Mode().Type().String() + ")"
		}
		return nil, false, fmt.Errorf("store: %s is a %s, not a state file", path, what)
	}
	db, bad, complete, err := openVerified(path, opts)
	if bad == nil {
		return db, complete, err
	}
	aside, rerr := moveAside(path, opts.Now())
	// The bad file stays locked (and open) until it is out of the way, so
	// another process waiting for the lock never takes the new one for it.
	bad.release()
	if rerr != nil {
		return nil, false, fmt.Errorf("%w; moving it aside failed: %w", err, rerr)
	}
	opts.Logger.Error("state file is corrupt; moved it aside and started an empty one (tokens issued before no longer swap back: those clients log in again)",
		zap.String("path", path), zap.String("moved_to", aside), zap.Error(err))
	opts.Metrics.corruptFile()
	db, bad, complete, err = openVerified(path, opts)
	if bad != nil {
		bad.release()
	}
	return db, complete, err
}

// corruption is a file found bad, still open (and locked) until release.
type corruption struct{ release func() }

// checkBudget bounds the check at open. A file bigger than what can be
// read in that time (about 200 MB from a slow disk, a few GB from the page
// cache) opens unchecked past that point, and the rest is checked in the
// background (checkInBackground), so a big file does not hold up Caddy's
// start; a damaged page met before the background check gets there fails
// the call that met it and resets the file all the same (see reset).
var checkBudget = 2 * time.Second

// openVerified opens path with bbolt and checks what it opened; complete
// reports whether the check read the whole file. The file is untrusted
// until then: bbolt panics on some bad pages (an invalid freelist page),
// and a page past the end of a truncated file faults on the mmap. Both
// become an error here, in this goroutine, which is why the check is a
// walk of our own rather than bbolt's Tx.Check alone: that one runs in a
// goroutine of bbolt's, where a fault would kill the process.
func openVerified(path string, opts BoltOptions) (db *bbolt.DB, bad *corruption, complete bool, err error) {
	var file *os.File
	bo := &bbolt.Options{Timeout: opts.Timeout, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			opened, f := db, file
			db, bad = nil, &corruption{release: func() {
				// After a panic inside Open there is no DB to close,
				// only bbolt's file; its mapping stays until exit.
				if opened != nil {
					closeQuietly(opened)
				} else if f != nil {
					f.Close()
				}
			}}
			err = fmt.Errorf("store: %s is corrupt: %v", path, r)
		}
	}()
	db, err = bbolt.Open(path, opts.FileMode, bo)
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, nil, false, fmt.Errorf("store: %s is already open elsewhere (another Caddy process on the same file, or a second open in this one); gave up waiting for its lock after %s: %w", path, opts.Timeout, err)
	case unreadable(err):
		// bbolt closed the file itself.
		return nil, &corruption{release: func() {}}, false, fmt.Errorf("store: %s is corrupt: %w", path, err)
	default:
		return nil, nil, false, fmt.Errorf("store: opening %s: %w", path, err)
	}
	complete, err = verify(db, opts.Logger, time.Now().Add(checkBudget))
	if err != nil {
		opened := db
		return nil, &corruption{release: func() { closeQuietly(opened) }}, false, fmt.Errorf("store: %s is corrupt: %w", path, err)
	}
	return db, nil, complete, nil
}

// unreadable tells bbolt's errors for a file that is not a bbolt file, or
// not one it can read, from those of the system (permissions, I/O).
func unreadable(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrInvalidMapping) ||
		// Shorter than two pages; bbolt has no error value for it.
		strings.Contains(err.Error(), "file size too small")
}

var (
	errOutOfTime = errors.New("store: out of time")
	errReplaced  = errors.New("store: file replaced")
)

// verify reads every page the file's trees reach, until deadline, which
// makes later reads safe from faults; when it got through, it runs
// bbolt's own check, which also finds pages both in use and free (that a
// later write would overwrite). complete reports whether it got through.
// It runs at open only: a config reload keeps the open store.
func verify(db *bbolt.DB, log *zap.Logger, deadline time.Time) (complete bool, err error) {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return false, err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("file is truncated: its pages end at byte %d, the file at %d", tx.Size(), fi.Size())
		}
		w := walker{deadline: deadline}
		defer w.done()
		return tx.ForEach(func(name []byte, bk *bbolt.Bucket) error {
			return w.bucket(bk, 0)
		})
	})
	if errors.Is(err, errOutOfTime) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// bbolt writes its meta page to one of two places in turn and reads
	// the newer sound one, so a torn or damaged meta page costs the last
	// transaction, not the file. A transaction rewrites the other page;
	// after it, both are sound and the check below does not report the
	// damaged one. On a full disk the write may fail: the check is then
	// skipped, since a damaged meta page would fail it for nothing.
	if err := db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
		log.Warn("state file not checked: it takes no writes", zap.String("path", db.Path()), zap.Error(err))
		return true, nil
	}
	return true, db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// touched keeps the compiler from dropping the reads of a walker.
var touched atomic.Uint32

// A walker reads every key and value of the buckets it is given and of
// the buckets in them, until its deadline (none when zero).
type walker struct {
	sink     byte
	n        int
	deadline time.Time
}

func (w *walker) bucket(bk *bbolt.Bucket, depth int) error {
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := w.entry(bk, k, v, depth); err != nil {
			return err
		}
	}
	return nil
}

// entry reads a key and its value, or walks the bucket it names.
func (w *walker) entry(bk *bbolt.Bucket, k, v []byte, depth int) error {
	if w.n++; w.n%1024 == 0 && !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return errOutOfTime
	}
	if v == nil {
		if depth >= 4 {
			return errors.New("buckets nested deeper than idphooks writes them")
		}
		if child := bk.Bucket(k); child != nil {
			return w.bucket(child, depth+1)
		}
		return nil
	}
	w.sink ^= k[0]
	if len(v) > 0 {
		// The last byte is on the value's last overflow page.
		w.sink ^= v[0] ^ v[len(v)-1]
	}
	return nil
}

// done publishes what was read.
func (w *walker) done() { touched.Add(uint32(w.sink)) }

func closeQuietly(db *bbolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}

// moveAside renames path to a name of its own beside it.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, fs.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	// The rename must outlive a crash, or the bad file comes back.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return aside, nil
}
