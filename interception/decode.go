package interception

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// ErrTooLarge is returned when a body exceeds its cap.
var ErrTooLarge = errors.New("body exceeds the size limit")

// Decode returns body decoded from its Content-Encoding, with the same cap
// on the decoded size (against compression bombs). Upstreams are asked for
// identity encoding, but one that compresses anyway is decoded rather than
// passed through unseen; an encoding idphooks cannot read is an error.
func Decode(encoding string, body []byte, limit int64) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(encoding))
	var r io.Reader
	switch enc {
	case "", "identity":
		if int64(len(body)) > limit {
			return nil, ErrTooLarge
		}
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		r = zr
	case "deflate":
		r = flate.NewReader(bytes.NewReader(body))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("zstd body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unsupported upstream Content-Encoding %q", enc)
	}
	b, err := ReadCapped(r, limit)
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", enc, err)
	}
	return b, nil
}

// ReadCapped reads r to its end, or fails with ErrTooLarge past limit.
func ReadCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// DecodableOnly narrows a request's Accept-Encoding to the codings Decode
// reads, so that the upstream does not answer in one idphooks could not
// inspect (browsers offer br; an IdP behind a compressing proxy would take
// it). q-values stay as the client gave them; none left means identity.
// Caddy's encode handler, outside idp_hooks, still compresses for the
// client.
func DecodableOnly(h http.Header) {
	values := h.Values("Accept-Encoding")
	if len(values) == 0 {
		return
	}
	var keep []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "x-gzip", "deflate", "zstd", "identity":
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	if len(keep) == 0 {
		h.Set("Accept-Encoding", "identity")
		return
	}
	h.Set("Accept-Encoding", strings.Join(keep, ", "))
}
