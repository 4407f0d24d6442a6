// Package browser drives a real headless Chromium for end-to-end tests, over
// the DevTools protocol (github.com/chromedp/chromedp): an IdP's own login,
// registration and reset pages, with their scripts, cookies and redirects,
// as a person's browser would see them.
//
// A test package starts one Chromium in TestMain (Start) and gives each test
// a tab of its own (NewTab) in a fresh browser context: its own cookies and
// storage, closed with the test. Every action of a Tab is bounded by a
// timeout and fails the test with the page's URL; a failed test leaves a
// full-page screenshot, the page's HTML and the tab's navigation and console
// log in an output folder, whose path the test log shows.
//
// Chromium is Debian's chromium package (/usr/bin/chromium) or the binary
// $CHROMIUM names; nothing is ever downloaded. Without one, Start returns
// ErrNoChromium, which the tests turn into a skip.
package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// ErrNoChromium is Start's error when no Chromium binary is found.
var ErrNoChromium = errors.New("browser: no Chromium found: install Debian's chromium (apt-get install chromium) or set $CHROMIUM to a Chromium binary")

// Defaults of Options.
const (
	DefaultActionTimeout = 30 * time.Second
	DefaultStartTimeout  = 60 * time.Second
)

// Options configures Start.
type Options struct {
	// ExecPath is the Chromium binary. Empty means Find.
	ExecPath string
	// ActionTimeout bounds every action of a Tab (a navigation, a click and
	// the page load it causes, a wait). Default DefaultActionTimeout.
	ActionTimeout time.Duration
	// StartTimeout bounds the browser's start and a new tab's opening.
	// Default DefaultStartTimeout.
	StartTimeout time.Duration
	// OutputDir receives what a failed test's tabs leave. Empty means
	// $IDPHOOKS_TEST_OUTPUT/<package folder name>, else testdata-out in
	// the test's working directory (its package folder).
	OutputDir string
	// Log, when set, receives Chromium's own output (stderr).
	Log io.Writer
}

// Browser is one running Chromium.
type Browser struct {
	ctx         context.Context // the first tab's: it owns the browser process
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	opts        Options
	execPath    string
	version     string
}

// candidates are the names Find tries, in order.
var candidates = []string{"chromium", "chromium-browser", "/usr/bin/chromium"}

// Find returns the Chromium to run: $CHROMIUM when set (an error when it
// cannot be run), else chromium or chromium-browser on PATH, else
// /usr/bin/chromium; ErrNoChromium when there is none.
func Find() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("browser: $CHROMIUM=%s: %w", p, err)
		}
		return found, nil
	}
	for _, name := range candidates {
		if found, err := exec.LookPath(name); err == nil {
			return found, nil
		}
	}
	return "", ErrNoChromium
}

// Start runs a headless Chromium with a fresh profile in a temporary folder
// (removed at Close), no sandbox (tests run as root, where Chromium's
// sandbox cannot start), and the network limited to loopback: every other
// host goes to a proxy address where nothing listens, so a page that
// reaches out fails at once instead of hanging or leaving the machine.
// ctx bounds the browser's life; Close ends it sooner.
func Start(ctx context.Context, opts Options) (*Browser, error) {
	if opts.ActionTimeout <= 0 {
		opts.ActionTimeout = DefaultActionTimeout
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	execPath := opts.ExecPath
	if execPath == "" {
		var err error
		if execPath, err = Find(); err != nil {
			return nil, err
		}
	} else if _, err := exec.LookPath(execPath); err != nil {
		return nil, fmt.Errorf("browser: %s: %w", execPath, err)
	}
	if opts.OutputDir == "" {
		opts.OutputDir = defaultOutputDir()
	}

	flags := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1024),
		chromedp.Flag("lang", "en-US"),
		// Chromium bypasses a proxy for loopback addresses by itself;
		// everything else is sent to a port where nothing listens.
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.*, EXCLUDE [::1]"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	if opts.Log != nil {
		flags = append(flags, chromedp.CombinedOutput(opts.Log))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(ctx, flags...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	b := &Browser{ctx: bctx, cancel: cancel, allocCancel: allocCancel, opts: opts, execPath: execPath}

	// The first run starts the process and binds it to the context it is
	// given, so it cannot carry the timeout itself.
	if err := within(opts.StartTimeout, func() error { return chromedp.Do(bctx) }); err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: starting %s: %w", execPath, err)
	}
	vctx, vcancel := context.WithTimeout(bctx, opts.StartTimeout)
	defer vcancel()
	v, err := chromedp.CallBrowser(vctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: %s: version: %w", execPath, err)
	}
	b.version = v.Product
	return b, nil
}

// Version is the browser's product name and version, e.g.
// "Chrome/156.0.8078.114".
func (b *Browser) Version() string { return b.version }

// ExecPath is the binary that runs.
func (b *Browser) ExecPath() string { return b.execPath }

// OutputDir is where failed tests leave their pages.
func (b *Browser) OutputDir() string { return b.opts.OutputDir }

// Close ends the browser: a graceful close for a few seconds, then the
// process is killed. Its temporary profile is removed.
func (b *Browser) Close() error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	err := chromedp.Cancel(ctx)
	b.cancel()
	b.allocCancel()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

// within runs f and waits for it at most d. f keeps running after a
// timeout; the caller then ends what f waits on.
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("no answer within %s", d)
	}
}

func defaultOutputDir() string {
	wd, _ := os.Getwd()
	if d := os.Getenv("IDPHOOKS_TEST_OUTPUT"); d != "" {
		return filepath.Join(d, filepath.Base(wd))
	}
	return filepath.Join(wd, "testdata-out")
}
