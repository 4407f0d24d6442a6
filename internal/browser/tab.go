package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Tab is one test's page, in a browser context of its own: cookies, storage
// and cache are its own and go with it. Its methods fail the test (Fatal)
// when an action fails or does not finish within the browser's
// ActionTimeout, naming the page the tab was on. A Tab is not safe for concurrent use: one tab, one goroutine.
type Tab struct {
	t       testing.TB
	ctx     context.Context
	timeout time.Duration
	out     string
	rec     *recorder
}

// NewTab opens a tab in a new browser context. It closes, with its browser
// context, when the test ends; if the test failed, it first saves the page
// (see Tab.SaveArtifacts).
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.event))
	p := &Tab{t: t, ctx: ctx, timeout: b.opts.ActionTimeout, out: b.opts.OutputDir, rec: rec}
	// The first run opens the tab and keeps the context it is given for the
	// tab's life, so it runs on ctx itself, bounded from outside.
	if err := within(b.opts.StartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		cancel()
		t.Fatalf("browser: opening a tab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.SaveArtifacts("failure")
		}
		cancel()
	})
	return p
}

// Context is the tab's chromedp context, for actions this type has no
// method for; bound them with a timeout of their own (or use Do).
func (p *Tab) Context() context.Context { return p.ctx }

// Do runs chromedp actions in the tab within the action timeout.
func (p *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// Navigate loads u and waits for its load event (after any redirects).
func (p *Tab) Navigate(u string) {
	p.t.Helper()
	p.Do("navigate to "+u, chromedp.Navigate(u))
}

// WaitVisible waits until an element matching the CSS selector is visible.
func (p *Tab) WaitVisible(sel string) {
	p.t.Helper()
	p.Do("wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel), retry))
}

// WaitGone waits until no element matches the CSS selector.
func (p *Tab) WaitGone(sel string) {
	p.t.Helper()
	p.Do("wait for "+sel+" to go", chromedp.WaitNotPresent(chromedp.CSS(sel), retry))
}

// Fill types value into the visible input the CSS selector names, after
// emptying it, with key events as a person's typing sends them.
func (p *Tab) Fill(sel, value string) {
	p.t.Helper()
	p.Do("fill "+sel, chromedp.Clear(chromedp.CSS(sel), retry), chromedp.SendKeys(chromedp.CSS(sel), value, retry))
}

// SetValue sets the value of the element the CSS selector names, visible
// or not (a hidden input, a select), without key events.
func (p *Tab) SetValue(sel, value string) {
	p.t.Helper()
	p.Do("set the value of "+sel, chromedp.SetValue(chromedp.CSS(sel), value, retry))
}

// InjectField appends a hidden input name=value to the form the CSS
// selector names, as a page script or a tampering user could: the form's
// next submit posts it. An existing field of that name is kept, so the
// post then carries the name twice.
func (p *Tab) InjectField(formSel, name, value string) {
	p.t.Helper()
	p.evalJS("inject "+name+" into "+formSel, fmt.Sprintf(`(() => {
  const f = document.querySelector(%s);
  if (!(f instanceof HTMLFormElement)) return "no form matches";
  const i = document.createElement("input");
  i.type = "hidden"; i.name = %s; i.value = %s;
  f.appendChild(i);
  return "";
})()`, js(formSel), js(name), js(value)))
}

// Click clicks the element the CSS selector names and returns at once; use
// ClickNavigate for a click that loads a page.
func (p *Tab) Click(sel string) {
	p.t.Helper()
	p.Do("click "+sel, chromedp.Click(chromedp.CSS(sel), retry))
}

// ClickNavigate clicks the element the CSS selector names (a link, a
// submit button) and waits for the page it loads: the next load event of
// the tab, after any redirects, whether the answer is a new page or the
// same one shown again. A submit button of a form that the browser's
// constraint validation would stop fails at once, naming the fields.
func (p *Tab) ClickNavigate(sel string) {
	p.t.Helper()
	p.checkValidity(sel)
	p.waitLoad("click "+sel, chromedp.Click(chromedp.CSS(sel), retry))
}

// Submit submits the form the CSS selector names (or the form of the
// element it names) as its submit button would, with form.requestSubmit
// (submit handlers run), and waits for the page the post loads.
func (p *Tab) Submit(sel string) {
	p.t.Helper()
	p.checkValidity(sel)
	p.waitLoad("submit "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
  const e = document.querySelector(%s);
  const f = e instanceof HTMLFormElement ? e : e && e.form;
  f.requestSubmit();
})()`, js(sel))))
}

// waitLoad runs trigger and waits for the tab's next load event.
func (p *Tab) waitLoad(what string, trigger chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, trigger)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no page loaded within %s", p.timeout)
		}
		p.fatalf("%s: %v", what, err)
	}
}

// checkValidity fails the test when sel is in a form that constraint
// validation would keep from being submitted.
func (p *Tab) checkValidity(sel string) {
	p.t.Helper()
	p.evalJS("check the form of "+sel, fmt.Sprintf(`(() => {
  const e = document.querySelector(%s);
  if (!e) return "no element matches";
  const f = e instanceof HTMLFormElement ? e : e.form;
  if (!f || f.noValidate || e.formNoValidate) return "";
  const bad = Array.from(f.elements).filter(x => x.willValidate && !x.checkValidity());
  return bad.length ? "the browser would not submit it: " + bad.map(x => (x.name || x.id) + ": " + x.validationMessage).join("; ") : "";
})()`, js(sel)))
}

// evalJS evaluates an expression that answers "" when all went well and a
// reason otherwise.
func (p *Tab) evalJS(what, expr string) {
	p.t.Helper()
	if msg := Eval[string](p, expr); msg != "" {
		p.fatalf("%s: %s", what, msg)
	}
}

// Text is the visible text of the first element the CSS selector names,
// once there is one.
func (p *Tab) Text(sel string) string {
	p.t.Helper()
	return run(p, "text of "+sel, chromedp.Text(chromedp.CSS(sel), retry))
}

// Value is the value of the form field the CSS selector names.
func (p *Tab) Value(sel string) string {
	p.t.Helper()
	return run(p, "value of "+sel, chromedp.Value(chromedp.CSS(sel), retry))
}

// Property is a JavaScript property of the first element the CSS selector
// names, as a string: "action" of a form is its absolute URL, "checked"
// of a box "true" or "false".
func (p *Tab) Property(sel, name string) string {
	p.t.Helper()
	v := run(p, name+" of "+sel, chromedp.JavascriptAttribute[any](chromedp.CSS(sel), name, retry))
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// Count is how many elements the CSS selector matches now (no wait).
func (p *Tab) Count(sel string) int {
	p.t.Helper()
	return Eval[int](p, fmt.Sprintf(`document.querySelectorAll(%s).length`, js(sel)))
}

// Exists says whether an element matches the CSS selector now (no wait).
func (p *Tab) Exists(sel string) bool {
	p.t.Helper()
	return p.Count(sel) > 0
}

// HTML is the current document's markup (document.documentElement).
func (p *Tab) HTML() string {
	p.t.Helper()
	return Eval[string](p, `document.documentElement.outerHTML`)
}

// Title is the document's title.
func (p *Tab) Title() string {
	p.t.Helper()
	return run(p, "title", chromedp.Title())
}

// CurrentURL is the URL of the document the tab shows (the last committed
// navigation; a navigation under way is not counted).
func (p *Tab) CurrentURL() string {
	p.t.Helper()
	u, err := p.currentURL(p.ctx)
	if err != nil {
		p.fatalf("current URL: %v", err)
	}
	return u
}

func (p *Tab) currentURL(parent context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(parent, 5*time.Second)
	defer cancel()
	h, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		return "", err
	}
	if h.CurrentIndex < 0 || int(h.CurrentIndex) >= len(h.Entries) {
		return "", fmt.Errorf("no current history entry")
	}
	return h.Entries[h.CurrentIndex].URL, nil
}

// WaitURL waits until the tab shows a document whose URL starts with
// prefix, such as a redirect_uri with its code, and returns that URL.
func (p *Tab) WaitURL(prefix string) *url.URL {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	var last string
	for {
		u, err := p.currentURL(ctx)
		if err == nil {
			last = u
			if strings.HasPrefix(u, prefix) {
				parsed, err := url.Parse(u)
				if err != nil {
					p.fatalf("wait for %s: %v", prefix, err)
				}
				return parsed
			}
		}
		select {
		case <-ctx.Done():
			p.fatalf("wait for a page at %s: none within %s (last at %s)", prefix, p.timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Status is the HTTP status of the response that brought the current
// document (0 when none was seen, as for about:blank).
func (p *Tab) Status() int {
	return p.rec.status()
}

// Eval evaluates a JavaScript expression in the tab's page (a promise is
// awaited) and decodes its value into T.
func Eval[T any](p *Tab, expr string) T {
	p.t.Helper()
	return run(p, "evaluate "+short(expr), chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func run[T any](p *Tab, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fatalf("%s: %v", what, err)
	}
	return v
}

// fatalf fails the test, naming the page the tab was on.
func (p *Tab) fatalf(format string, args ...any) {
	p.t.Helper()
	u, err := p.currentURL(p.ctx)
	if err != nil {
		u = "unknown (" + err.Error() + ")"
	}
	p.t.Fatalf("browser: "+format+" (page %s)", append(args, u)...)
}

// retry is how often a query looks again for the element it waits for;
// chromedp's 5 ms keeps a core busy through a long wait.
var retry = chromedp.RetryInterval(25 * time.Millisecond)

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}
