package types

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var (
	//go:embed idphooks.d.ts
	declarations []byte
	//go:embed starter/jsconfig.json
	jsconfig []byte
	//go:embed starter/hook.js
	starterHook []byte
)

// starterFiles are what Init writes, in order. One jsconfig.json, no
// tsconfig.json: VS Code reads jsconfig.json for a folder of .js files, and
// `tsc -p DIR/jsconfig.json` takes the same file (tsc -p accepts a file as
// well as a folder), so a second config would only be a copy to keep in
// step. It sets allowJs itself, so it checks the same under either name.
var starterFiles = []struct {
	name string
	data []byte
}{
	{"idphooks.d.ts", declarations},
	{"jsconfig.json", jsconfig},
	{"hook.js", starterHook},
}

// Init creates dir if needed and writes a type-checked starting point for
// hooks into it: idphooks.d.ts, a jsconfig.json that checks every .js file
// in the folder against it (without the DOM, as the sandbox runs them), and
// a starter hook.js. It returns the paths it wrote.
//
// Init never overwrites: when any of these files exists it writes nothing
// and returns an error naming every one that does, which matches
// fs.ErrExist.
func Init(dir string) ([]string, error) {
	var existing []string
	for _, f := range starterFiles {
		p := filepath.Join(dir, f.name)
		switch _, err := os.Lstat(p); {
		case err == nil:
			existing = append(existing, p)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("%w: %s (nothing written)", fs.ErrExist, strings.Join(existing, ", "))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range starterFiles {
		p := filepath.Join(dir, f.name)
		if err := create(p, f.data); err != nil {
			// Leave the folder as it was: a file that appeared since the
			// check above is not ours, and what we wrote is incomplete.
			for _, w := range written {
				_ = os.Remove(w)
			}
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

// create writes a new file, failing if it exists (O_EXCL closes the window
// between Init's check and the write).
func create(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		_ = os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}
