package browser

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
)

// recorder keeps what a failed test's log needs from a tab's events: the
// documents it loaded with their statuses, the main frame's navigations,
// and what the page wrote to its console or threw. It runs in chromedp's
// event loop, so it only appends under a lock.
type recorder struct {
	mu        sync.Mutex
	mainFrame cdp.FrameID
	docStatus map[cdp.FrameID]int // the last document response per frame
	lines     []string
}

// maxLines bounds the log a long test keeps; the oldest lines go first.
const maxLines = 2000

func (r *recorder) event(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventResponseReceived:
		if ev.Type != network.ResourceTypeDocument || ev.Response == nil {
			return
		}
		if r.docStatus == nil {
			r.docStatus = map[cdp.FrameID]int{}
		}
		r.docStatus[ev.FrameID] = int(ev.Response.Status)
		r.add("document %d %s", ev.Response.Status, ev.Response.URL)
	case *network.EventRequestWillBeSent:
		if ev.Type == network.ResourceTypeDocument && ev.Request != nil {
			if ev.RedirectResponse != nil {
				r.add("document %d %s (redirect)", ev.RedirectResponse.Status, ev.RedirectResponse.URL)
			}
			r.add("request %s %s", ev.Request.Method, ev.Request.URL)
		}
	case *network.EventLoadingFailed:
		if ev.Type == network.ResourceTypeDocument {
			r.add("document failed: %s", ev.ErrorText)
		}
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" {
			r.mainFrame = ev.Frame.ID
			r.add("navigated to %s", ev.Frame.URL)
		}
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if a == nil {
				continue
			}
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		r.add("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			r.add("exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		}
	case *log.EventEntryAdded:
		if e := ev.Entry; e != nil {
			r.add("log %s %s: %s %s", e.Level, e.Source, e.Text, e.URL)
		}
	}
}

func (r *recorder) add(format string, args ...any) {
	line := time.Now().Format("15:04:05.000 ") + fmt.Sprintf(format, args...)
	if len(r.lines) >= maxLines {
		r.lines = append(r.lines[:0], r.lines[len(r.lines)-maxLines/2:]...)
	}
	r.lines = append(r.lines, line)
}

// status is the HTTP status of the main frame's current document.
func (r *recorder) status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.docStatus[r.mainFrame]
}

func (r *recorder) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n") + "\n"
}
