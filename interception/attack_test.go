package interception

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// ReadForm allocates the declared Content-Length before a byte of the body
// has come: a client that sends only headers (Content-Length: 1048576, the
// default max_body) and nothing more pins 1 MiB per request, for as long as
// it keeps the connection (Caddy sets no read timeout by default; over
// HTTP/2 one connection carries up to 250 such streams). Memory must follow
// what was received, not what was announced.
func TestAttackReadFormAllocatesAnnouncedLength(t *testing.T) {
	const (
		n     = 32
		limit = 1 << 20
	)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	writers := make([]*io.PipeWriter, n)
	done := make(chan struct{}, n)
	for k := range writers {
		pr, pw := io.Pipe()
		writers[k] = pw
		r := httptest.NewRequest(http.MethodPost, "http://idp.test/token", pr)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.ContentLength = limit
		go func() {
			ReadForm(r, limit)
			done <- struct{}{}
		}()
		// One byte, taken once ReadForm is reading (its buffer exists).
		if _, err := pw.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for _, pw := range writers {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	for range writers {
		<-done
	}
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if per := grown / n; per > 64<<10 {
		t.Errorf("%d requests that sent 1 byte each hold %d KiB of heap (%d KiB each)", n, grown>>10, per>>10)
	}
}
