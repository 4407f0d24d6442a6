package interception

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Select decides, when the upstream sends its status and headers, whether
// an answer is held for the interceptor to read (true) or streams to the
// client untouched (false).
type Select func(status int, h http.Header) bool

// Successes holds every 2xx answer: an IdP may answer a token or userinfo
// request with 201 or 203 as well as 200, and none of them may slip past
// the hooks unread.
func Successes(status int, _ http.Header) bool { return status >= 200 && status < 300 }

// Overflow is what a Capture does with an answer that outgrows its cap.
type Overflow int

const (
	// Discard keeps reading what the upstream sends, drops it and marks
	// the capture Over: the interceptor then answers in its place (a 502
	// for an answer it must read). Reading on, rather than failing the
	// write, lets reverse_proxy finish the exchange: a failed write makes
	// it abort the client's connection instead.
	Discard Overflow = iota
	// Stream sends what is held unchanged and streams the rest: for
	// answers that are rewritten only when they are small (a form_post
	// page) and are fine as they are otherwise.
	Stream
)

// drainLimit bounds what a Discard capture reads past its cap. An
// upstream that sends more is cut off (reverse_proxy aborts its answer,
// which Serve turns into the interceptor's own answer).
const drainLimit = 8 << 20

// Capture is a response writer in front of the client's: it holds the
// answers Select picks, up to a cap, and streams the others. It is not
// safe for concurrent use, as no http.ResponseWriter is.
type Capture struct {
	w        http.ResponseWriter
	header   http.Header
	status   int
	buf      *bytes.Buffer
	limit    int64
	sel      Select
	onHeader func(status int, h http.Header)
	overflow Overflow

	state   captureState
	drained int64
}

type captureState uint8

const (
	undecided captureState = iota
	holding
	streaming
	over
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// NewCapture returns a Capture for the client's writer w that holds what
// sel picks (every answer when sel is nil) up to limit bytes.
func NewCapture(w http.ResponseWriter, limit int64, sel Select) *Capture {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	return &Capture{w: w, header: make(http.Header), buf: buf, limit: limit, sel: sel}
}

// OnOverflow sets what happens past the cap (Discard by default).
func (c *Capture) OnOverflow(o Overflow) *Capture { c.overflow = o; return c }

// OnHeader sets a function that sees the status and may change the
// headers of every answer before it is held or streamed (the Location of
// a redirect, say).
func (c *Capture) OnHeader(f func(status int, h http.Header)) *Capture { c.onHeader = f; return c }

// Release returns the buffer to the pool; the Capture is unusable after.
func (c *Capture) Release() {
	if c.buf != nil && c.buf.Cap() <= 1<<20 {
		bufPool.Put(c.buf)
	}
	c.buf = nil
}

// ErrAborted says the upstream's answer broke off while it was held: the
// client has seen nothing of it, so the interceptor answers instead.
var ErrAborted = errors.New("upstream answer broke off")

// Serve calls next with the Capture as its writer. reverse_proxy aborts
// with http.ErrAbortHandler when copying an answer fails after its headers
// (an answer too large even for draining, an upstream that hangs up
// midway); for a held answer nothing has reached the client yet, so Serve
// recovers that one panic and reports ErrAborted (or, past the cap, lets
// Over speak), and the interceptor can answer instead of the client seeing
// its connection drop.
func (c *Capture) Serve(next caddyhttp.Handler, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler || !c.Held() {
				panic(v)
			}
			if c.state == over {
				err = nil
			} else {
				err = ErrAborted
			}
		}
	}()
	return next.ServeHTTP(c, r)
}

// Header is the header of the answer being written.
func (c *Capture) Header() http.Header {
	if c.state == streaming {
		return c.w.Header()
	}
	return c.header
}

// WriteHeader decides whether the answer is held or streamed.
func (c *Capture) WriteHeader(status int) {
	if c.state != undecided {
		return
	}
	if status < 200 {
		// 1xx are informational: the final status is what counts. They
		// reach the client only when it is streamed to anyway.
		return
	}
	if c.onHeader != nil {
		c.onHeader(status, c.header)
	}
	c.status = status
	if c.sel == nil || c.sel(status, c.header) {
		c.state = holding
		return
	}
	c.state = streaming
	copyHeader(c.w.Header(), c.header)
	c.w.WriteHeader(status)
}

func (c *Capture) Write(p []byte) (int, error) {
	if c.state == undecided {
		c.WriteHeader(http.StatusOK)
	}
	switch c.state {
	case streaming:
		return c.w.Write(p)
	case over:
		c.drained += int64(len(p))
		if c.drained > drainLimit {
			return 0, ErrTooLarge
		}
		return len(p), nil
	}
	if int64(c.buf.Len()+len(p)) <= c.limit {
		return c.buf.Write(p)
	}
	if c.overflow == Stream {
		c.state = streaming
		copyHeader(c.w.Header(), c.header)
		c.w.WriteHeader(c.status)
		if _, err := c.w.Write(c.buf.Bytes()); err != nil {
			return 0, err
		}
		c.buf.Reset()
		return c.w.Write(p)
	}
	c.state = over
	c.buf.Reset()
	return c.Write(p)
}

// Flush reaches the client only for a streamed answer: nothing of a held
// one may go out before the interceptor has read it.
func (c *Capture) Flush() {
	if c.state == streaming {
		http.NewResponseController(c.w).Flush()
	}
}

// Unwrap lets http.ResponseController reach the client's writer, as
// Caddy's own wrappers do.
func (c *Capture) Unwrap() http.ResponseWriter { return c.w }

// Held reports whether the Capture holds an answer for the interceptor:
// one Select picked that fitted its cap, or that outgrew it (see Over).
// False means the answer streamed to the client, or none was written.
func (c *Capture) Held() bool { return c.state == holding || c.state == over }

// Over reports an answer that outgrew the cap and was discarded.
func (c *Capture) Over() bool { return c.state == over }

// Status is the held answer's status.
func (c *Capture) Status() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// Raw is the held body as it came (still encoded).
func (c *Capture) Raw() []byte { return c.buf.Bytes() }

// Body returns the held body decoded (see Decode), capped at the limit.
func (c *Capture) Body() ([]byte, error) {
	if c.state == over {
		return nil, ErrTooLarge
	}
	return Decode(c.header.Get("Content-Encoding"), c.buf.Bytes(), c.limit)
}

// WriteHeld sends the held answer to the client unchanged.
func (c *Capture) WriteHeld() {
	copyHeader(c.w.Header(), c.header)
	c.w.WriteHeader(c.Status())
	_, _ = c.w.Write(c.buf.Bytes())
}

// WriteBody sends the held status and headers with a new, unencoded body;
// the validators and digests of the old one go.
func (c *Capture) WriteBody(contentType string, body []byte) {
	copyHeader(c.w.Header(), c.header)
	h := c.w.Header()
	for _, k := range []string{"Content-Encoding", "ETag", "Last-Modified", "Content-MD5", "Digest", "Repr-Digest", "Content-Digest"} {
		h.Del(k)
	}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(c.Status())
	_, _ = c.w.Write(body)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}
