package interception

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
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
