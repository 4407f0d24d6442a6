package testidp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
)

// NPMCI runs "npm ci" in dir (a folder with package.json and
// package-lock.json) unless node_modules already holds pkg. A file lock
// serialises concurrent test binaries (go test runs packages in parallel).
// npm's output goes to log when it is not nil, and into the error.
func NPMCI(ctx context.Context, dir, pkg string, log io.Writer) error {
	marker := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")
	if fileExists(marker) {
		return nil
	}
	unlock, err := lockFile(filepath.Join(dir, ".npm-ci.lock"))
	if err != nil {
		return fmt.Errorf("testidp: lock for npm ci: %w", err)
	}
	defer unlock()
	if fileExists(marker) {
		return nil
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if log != nil {
		cmd.Stdout = io.MultiWriter(&out, log)
		cmd.Stderr = cmd.Stdout
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testidp: npm ci in %s: %w\n%s", dir, err, out.String())
	}
	if !fileExists(marker) {
		return fmt.Errorf("testidp: npm ci in %s did not install %s", dir, pkg)
	}
	return nil
}
