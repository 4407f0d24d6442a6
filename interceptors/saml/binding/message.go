package binding

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// The encodings of a SAML message in the bindings: base64 in a POST form,
// base64 of raw DEFLATE in a Redirect query. Both decoders cap what they
// produce.

// DecodeMessage turns the SAMLResponse (or SAMLRequest) value of an HTTP-POST
// form into XML bytes. Whitespace anywhere in the value is ignored, since
// IdPs wrap base64 at 76 columns with CRLF; limit caps the decoded size.
func DecodeMessage(value string, limit int) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: no size limit", ErrTooLarge)
	}
	// Base64 grows by 4/3; a value far over the cap is refused before any
	// work, whitespace allowance included.
	if len(value) > limit/3*4*2+1024 {
		return nil, fmt.Errorf("%w: %d bytes encoded", ErrTooLarge, len(value))
	}
	// Most values decode as they stand: the decoder skips CR and LF
	// itself, and one that succeeds held no other space and was padded, so
	// it gives the bytes the stripped value would, without the copy. The
	// rest go the long way, which words their errors.
	if base64.StdEncoding.DecodedLen(len(value)) <= limit+2 {
		if out, err := base64.StdEncoding.DecodeString(value); err == nil {
			if len(out) > limit {
				return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
			}
			return out, nil
		}
	}
	return decodeStripped(value, limit)
}

// decodeStripped is DecodeMessage the long way: white space removed, then
// padded or unpadded base64.
func decodeStripped(value string, limit int) ([]byte, error) {
	s := stripSpace(value)
	if base64.StdEncoding.DecodedLen(len(s)) > limit+2 {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	out, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// Inflate turns the (already URL-decoded) SAMLRequest or SAMLResponse
// value of an HTTP-Redirect query into XML bytes: base64, then raw
// DEFLATE (RFC 1951), inflated to at most limit bytes.
func Inflate(value string, limit int) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: no size limit", ErrTooLarge)
	}
	raw, err := DecodeMessage(value, limit)
	if err != nil {
		return nil, err
	}
	r := flate.NewReader(bytes.NewReader(raw))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: inflates over %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}

// EncodeMessage is the base64 form of a message for an HTTP-POST form, on
// one line as Keycloak sends it.
func EncodeMessage(xml []byte) string { return base64.StdEncoding.EncodeToString(xml) }

func stripSpace(s string) string {
	// Four IndexByte scans, vectorised, beat one ContainsAny byte loop.
	if strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0 &&
		strings.IndexByte(s, ' ') < 0 && strings.IndexByte(s, '\t') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
