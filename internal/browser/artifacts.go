package browser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// SaveArtifacts writes what the tab shows into a folder of the output dir
// named after the test and label: page.png (a full-page screenshot),
// page.html (the document's markup as it is now, scripts' changes
// included), tab.log (URL, status, the documents loaded, navigations,
// console and exceptions). It logs the folder with t.Log and returns it.
// It never fails the test: what cannot be saved is logged.
func (p *Tab) SaveArtifacts(label string) string {
	p.t.Helper()
	dir := filepath.Join(p.out, safeName(p.t.Name()), safeName(label))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Logf("browser: saving the page: %v", err)
		return ""
	}
	// The tab may be why the test failed: each capture gets a short bound.
	capture := func(what string, f func(ctx context.Context) error) {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		if err := f(ctx); err != nil {
			p.t.Logf("browser: saving the page's %s: %v", what, err)
		}
	}
	var saved []string
	capture("screenshot", func(ctx context.Context) error {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			return err
		}
		saved = append(saved, "page.png")
		return os.WriteFile(filepath.Join(dir, "page.png"), png, 0o644)
	})
	capture("HTML", func(ctx context.Context) error {
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		if err != nil {
			return err
		}
		saved = append(saved, "page.html")
		return os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	})
	u, err := p.currentURL(p.ctx)
	if err != nil {
		u = "unknown (" + err.Error() + ")"
	}
	head := fmt.Sprintf("url: %s\nstatus: %d\n\n", u, p.rec.status())
	if err := os.WriteFile(filepath.Join(dir, "tab.log"), []byte(head+p.rec.log()), 0o644); err != nil {
		p.t.Logf("browser: saving the tab's log: %v", err)
	} else {
		saved = append(saved, "tab.log")
	}
	p.t.Logf("browser: page at %s saved in %s (%s)", u, dir, strings.Join(saved, ", "))
	return dir
}

// safeName turns a test name (with subtests' slashes) into one folder name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
