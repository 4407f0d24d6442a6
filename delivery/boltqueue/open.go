package boltqueue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrCorrupt is wrapped by Open's error for a file that is not a sound
// queue file. Unlike the state store, which moves a bad file aside and
// starts afresh, the queue refuses it: it may hold events not yet
// delivered, which nothing else has, so an operator decides (move it
// aside, restore a backup) rather than a restart dropping them.
var ErrCorrupt = errors.New("boltqueue: the queue file is corrupt")

// openChecked opens the file at path and checks it before anything else
// reads it. bbolt panics on some damaged pages and a page past the end of
// a truncated file faults on the mmap; both become an error here, in this
// goroutine, which is why the walk is ours rather than only bbolt's
// Tx.Check (that runs in a goroutine of its own, where a fault would kill
// the process).
func openChecked(path string, opts Options) (db *bbolt.DB, err error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("boltqueue: %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	var file *os.File
	// The freelist stays synced (bbolt's default): without it, Open
	// rebuilds it by checking every page in a goroutine of bbolt's, where
	// a damaged page panics past any recover and kills the process.
	bo := &bbolt.Options{Timeout: opts.Timeout, FreelistType: bbolt.FreelistMapType, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// After a panic inside Open there is no DB to close, only
			// bbolt's file; its mapping stays until the process ends.
			if db != nil {
				closeQuietly(db)
			} else if file != nil {
				file.Close()
			}
			db, err = nil, corrupt(path, fmt.Errorf("%v", r))
		}
	}()
	db, err = bbolt.Open(path, opts.FileMode, bo)
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("boltqueue: %s is already open elsewhere (another Caddy process on the same file, or a second open in this one); gave up waiting for its lock after %s: %w", path, opts.Timeout, err)
	case unreadable(err):
		return nil, corrupt(path, err)
	default:
		return nil, fmt.Errorf("boltqueue: opening %s: %w", path, err)
	}
	if err := check(db); err != nil {
		closeQuietly(db)
		return nil, corrupt(path, err)
	}
	if err := layout(db); err != nil {
		closeQuietly(db)
		if errors.Is(err, errNotQueue) {
			return nil, fmt.Errorf("boltqueue: %s: %w", path, err)
		}
		return nil, fmt.Errorf("boltqueue: preparing %s: %w", path, err)
	}
	return db, nil
}

func corrupt(path string, cause error) error {
	return fmt.Errorf("%w: %s: %w; it may hold undelivered events, so it is left as it is: move it aside (or restore a backup) to start with an empty queue", ErrCorrupt, path, cause)
}

// unreadable tells bbolt's errors for a file it cannot read as a bbolt
// file from those of the system (permissions, I/O).
func unreadable(err error) bool {
	return errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) ||
		errors.Is(err, berrors.ErrVersionMismatch) || errors.Is(err, berrors.ErrInvalidMapping) ||
		// Shorter than two pages; bbolt has no error value for it.
		strings.Contains(err.Error(), "file size too small")
}

// check reads every page the file's trees reach (which makes later reads
// safe from faults), every record, then runs bbolt's own check, which
// also finds pages both in use and free. The whole file is read: a queue
// is small when its receivers keep up, and one with a big backlog is the
// one whose loss matters most.
func check(db *bbolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	err = db.View(func(tx *bbolt.Tx) error {
		if tx.Size() > fi.Size() {
			return fmt.Errorf("file is truncated: its pages end at byte %d, the file at %d", tx.Size(), fi.Size())
		}
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			msgs := bytes.Equal(name, bucketMsgs)
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					return fmt.Errorf("bucket %q holds a bucket, which a queue file never does", name)
				}
				if msgs {
					if _, err := decode(v); err != nil {
						return fmt.Errorf("message %q: %w", k, err)
					}
				}
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	return db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

var errNotQueue = errors.New("not a queue file (a bbolt file of something else: is the path right?)")

// layout creates the buckets of a new file and checks an old one is ours.
// An old file is only read, so that it opens on a full disk.
func layout(db *bbolt.DB) error {
	var fresh bool
	err := db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			fresh = true
			return tx.ForEach(func([]byte, *bbolt.Bucket) error { return errNotQueue })
		}
		if v := meta.Get(keyLayout); !bytes.Equal(v, layoutV1) {
			return fmt.Errorf("%w: layout %q", errNotQueue, v)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %q missing", errNotQueue, name)
			}
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyLayout, layoutV1)
	})
}

func closeQuietly(db *bbolt.DB) {
	defer func() { _ = recover() }()
	_ = db.Close()
}
