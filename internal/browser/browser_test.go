package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// One Chromium for the package, as the e2e packages run it.
var (
	chrome    *Browser
	chromeErr error
)

func TestMain(m *testing.M) {
	chrome, chromeErr = Start(context.Background(), Options{})
	if chromeErr == nil {
		fmt.Fprintf(os.Stderr, "internal/browser: %s (%s)\n", chrome.Version(), chrome.ExecPath())
	}
	code := m.Run()
	if chrome != nil {
		chrome.Close()
	}
	os.Exit(code)
}

func newTab(t *testing.T) *Tab {
	t.Helper()
	if errors.Is(chromeErr, ErrNoChromium) {
		t.Skipf("no browser: %v", chromeErr)
	}
	if chromeErr != nil {
		t.Fatal(chromeErr)
	}
	return chrome.NewTab(t)
}

// site is a loopback web site with the pages the tests drive.
func site(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><html><head><title>t</title></head><body>%s</body></html>", body)
	}
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		page(w, 200, `<form id="f" method="post" action="/echo">
<input id="user" name="user" required><input type="hidden" name="token" value="t1">
<button id="go" type="submit">Go</button></form>`)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		b, _ := json.Marshal(r.PostForm)
		page(w, 200, `<pre id="posted">`+strings.ReplaceAll(string(b), "<", "&lt;")+`</pre>`)
	})
	mux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		page(w, 200, `<a id="go" href="/redirect">next</a>`)
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/landing?code=abc&state=s", http.StatusFound)
	})
	mux.HandleFunc("GET /landing", func(w http.ResponseWriter, r *http.Request) {
		page(w, 200, `<p id="msg">landed</p>`)
	})
	mux.HandleFunc("GET /denied", func(w http.ResponseWriter, r *http.Request) {
		page(w, http.StatusForbidden, `<p id="msg">no</p>`)
	})
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {
		page(w, 200, `<script>setTimeout(() => { const p = document.createElement("p"); p.id = "late"; p.textContent = "here"; document.body.appendChild(p); }, 200)</script>`)
	})
	mux.HandleFunc("GET /setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cret", Path: "/"})
		page(w, 200, `<p id="msg">set</p>`)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("sid")
		v := "none"
		if c != nil {
			v = c.Value
		}
		page(w, 200, `<p id="msg">`+v+`</p>`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFormPostWithInjectedFields(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.Navigate(srv.URL + "/form")
	p.Fill("#user", "ada")
	p.InjectField("#f", "extra", "x")
	p.InjectField("#f", "token", "second") // a repeated name
	p.ClickNavigate("#go")
	var posted map[string][]string
	if err := json.Unmarshal([]byte(p.Text("#posted")), &posted); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"user": {"ada"}, "token": {"t1", "second"}, "extra": {"x"}}
	if fmt.Sprint(posted) != fmt.Sprint(want) {
		t.Errorf("posted %v, want %v", posted, want)
	}
	if got := p.CurrentURL(); got != srv.URL+"/echo" || p.Status() != 200 {
		t.Errorf("after the post: %s, status %d", got, p.Status())
	}
}

func TestSubmitRunsRequestSubmit(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.Navigate(srv.URL + "/form")
	p.SetValue("#user", "grace")
	p.Submit("#f")
	if got := p.Text("#posted"); !strings.Contains(got, `"user":["grace"]`) {
		t.Errorf("posted %s", got)
	}
}

func TestRedirectToURLPrefix(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.Navigate(srv.URL + "/start")
	p.ClickNavigate("#go")
	u := p.WaitURL(srv.URL + "/landing?")
	if u.Query().Get("code") != "abc" || u.Query().Get("state") != "s" {
		t.Errorf("landed at %s", u)
	}
	if p.Text("#msg") != "landed" {
		t.Errorf("page: %s", p.HTML())
	}
}

func TestStatusAndLateElement(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.Navigate(srv.URL + "/denied")
	if p.Status() != http.StatusForbidden || p.Text("#msg") != "no" {
		t.Errorf("status %d, page %s", p.Status(), p.HTML())
	}
	p.Navigate(srv.URL + "/late")
	p.WaitVisible("#late")
	if p.Text("#late") != "here" || p.Count("p") != 1 || !p.Exists("#late") || p.Exists("#gone") {
		t.Errorf("page: %s", p.HTML())
	}
}

// Each tab has a browser context of its own: a cookie one tab got is not
// sent by another.
func TestTabsHaveTheirOwnCookies(t *testing.T) {
	srv := site(t)
	a, b := newTab(t), newTab(t)
	a.Navigate(srv.URL + "/setcookie")
	a.Navigate(srv.URL + "/cookie")
	b.Navigate(srv.URL + "/cookie")
	if a.Text("#msg") != "s3cret" || b.Text("#msg") != "none" {
		t.Errorf("cookie seen by the tab that got it: %q, by another: %q", a.Text("#msg"), b.Text("#msg"))
	}
}

// Only loopback is reachable: a page elsewhere fails at once.
func TestLoopbackOnly(t *testing.T) {
	p := newTab(t)
	ctx, cancel := context.WithTimeout(p.Context(), 20*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate("http://idphooks.invalid/"))
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ERR_") {
		t.Fatalf("navigating off loopback: %v, want a network error", err)
	}
	t.Logf("off loopback: %v", err)
}

// A wait that is never satisfied fails the test with the page it was on;
// a submit the browser's validation would stop fails at once.
func TestActionsEndWithAFailure(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.Navigate(srv.URL + "/form")
	p.timeout = time.Second
	msg := fatalOf(t, p, func() { p.WaitVisible("#never") })
	if !strings.Contains(msg, "wait for #never to be visible") || !strings.Contains(msg, srv.URL+"/form") {
		t.Errorf("wait failure: %q", msg)
	}
	p.timeout = DefaultActionTimeout
	msg = fatalOf(t, p, func() { p.ClickNavigate("#go") })
	if !strings.Contains(msg, "would not submit") || !strings.Contains(msg, "user:") {
		t.Errorf("invalid form: %q", msg)
	}
	msg = fatalOf(t, p, func() { p.InjectField("#nothing", "a", "b") })
	if !strings.Contains(msg, "no form matches") {
		t.Errorf("inject into no form: %q", msg)
	}
}

func TestSaveArtifacts(t *testing.T) {
	p := newTab(t)
	srv := site(t)
	p.out = t.TempDir()
	p.Navigate(srv.URL + "/form")
	dir := p.SaveArtifacts("look")
	if dir != filepath.Join(p.out, "TestSaveArtifacts", "look") {
		t.Errorf("saved in %s", dir)
	}
	png, _ := os.ReadFile(filepath.Join(dir, "page.png"))
	html, _ := os.ReadFile(filepath.Join(dir, "page.html"))
	log, _ := os.ReadFile(filepath.Join(dir, "tab.log"))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || !bytes.Contains(html, []byte(`<form id="f"`)) ||
		!bytes.Contains(log, []byte("url: "+srv.URL+"/form")) || !bytes.Contains(log, []byte("document 200 "+srv.URL+"/form")) {
		t.Errorf("artifacts: png %d bytes, html %q, log %q", len(png), html, log)
	}
}

func TestFind(t *testing.T) {
	t.Setenv("CHROMIUM", filepath.Join(t.TempDir(), "chromium"))
	if _, err := Find(); err == nil || !strings.Contains(err.Error(), "$CHROMIUM") {
		t.Errorf("Find with a missing $CHROMIUM: %v", err)
	}
	t.Setenv("CHROMIUM", "")
	saved := candidates
	t.Cleanup(func() { candidates = saved })
	candidates = []string{filepath.Join(t.TempDir(), "chromium")}
	if _, err := Find(); !errors.Is(err, ErrNoChromium) {
		t.Errorf("Find with no browser: %v", err)
	}
	if _, err := Start(context.Background(), Options{}); !errors.Is(err, ErrNoChromium) {
		t.Errorf("Start with no browser: %v", err)
	}
}

// fatalOf runs f with the tab's test replaced by one that records Fatalf
// and stops f's goroutine, and returns the message.
func fatalOf(t *testing.T, p *Tab, f func()) string {
	t.Helper()
	c := &fatalCatcher{TB: t}
	p.t = c
	defer func() { p.t = t }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	if c.msg == "" {
		t.Error("the action did not fail")
	}
	return c.msg
}

type fatalCatcher struct {
	testing.TB
	msg string
}

func (c *fatalCatcher) Helper() {}

func (c *fatalCatcher) Fatalf(format string, args ...any) {
	c.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
