package oidc

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/klauspost/compress/zstd"
)

// capture buffers an upstream response an interceptor must rewrite, up to a
// cap. Past the cap Write fails, which makes reverse_proxy stop copying
// instead of filling memory; the interceptor then answers 502.
type capture struct {
	header http.Header
	status int
	buf    *bytes.Buffer
	limit  int64
	over   bool
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func newCapture(limit int64) *capture {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	return &capture{header: make(http.Header), buf: buf, limit: limit}
}

func (c *capture) release() {
	if c.buf.Cap() <= 1<<20 {
		bufPool.Put(c.buf)
	}
	c.buf = nil
}

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(status int) {
	// 1xx are informational; the final status is what counts.
	if c.status == 0 && status >= 200 {
		c.status = status
	}
}

func (c *capture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.over || int64(c.buf.Len()+len(p)) > c.limit {
		c.over = true
		return 0, errTooLarge
	}
	return c.buf.Write(p)
}

// Flush is a no-op: nothing reaches the client before the rewrite.
func (c *capture) Flush() {}

// body returns the decoded response body. Upstreams are asked for identity
// encoding, but one that compresses anyway is decoded (with the same cap on
// the decoded size, against compression bombs) rather than passed through
// unseen.
func (c *capture) body() ([]byte, error) {
	if c.over {
		return nil, errTooLarge
	}
	enc := strings.ToLower(strings.TrimSpace(c.header.Get("Content-Encoding")))
	var r io.Reader
	switch enc {
	case "", "identity":
		return c.buf.Bytes(), nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(c.buf.Bytes()))
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(bytes.NewReader(c.buf.Bytes()))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(c.buf.Bytes()), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(c.limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unsupported upstream Content-Encoding %q", enc)
	}
	b, err := readCapped(r, c.limit)
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", enc, err)
	}
	// The header stays: writeTo sends the captured bytes as they came,
	// writeBody drops the encoding of what it writes.
	return b, nil
}

// writeTo sends the captured response unchanged.
func (c *capture) writeTo(w http.ResponseWriter) {
	copyHeader(w.Header(), c.header)
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(c.buf.Bytes())
}

// writeBody sends the captured status and headers with a new body.
func (c *capture) writeBody(w http.ResponseWriter, contentType string, body []byte) {
	copyHeader(w.Header(), c.header)
	h := w.Header()
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Del("Content-MD5")
	h.Del("Digest")
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

// callUpstream sends r on to the IdP, asking for an identity-encoded answer,
// and captures what comes back. When it returns a nil capture the request is
// over: a non-200 answer went to the client as it is (IdP errors are the
// IdP's to give), or err is reverse_proxy's own error, to be returned as is.
// Otherwise the caller owns c (and releases it) and body is the decoded
// 200 answer, unless err says why it is unusable (too large, undecodable).
func (i *Interceptor) callUpstream(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (c *capture, body []byte, err error) {
	r.Header.Set("Accept-Encoding", "identity")
	c = newCapture(i.cfg.MaxBody)
	err = next.ServeHTTP(c, r)
	if c.over {
		return c, nil, errTooLarge
	}
	if err != nil || c.status != http.StatusOK {
		if err == nil {
			c.writeTo(w)
		}
		c.release()
		return nil, nil, err
	}
	body, err = c.body()
	return c, body, err
}
