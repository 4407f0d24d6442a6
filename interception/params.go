package interception

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrRepeated says a parameter idphooks reads was sent more than once.
// RFC 6749 §3.2 forbids it, and IdPs disagree on which value counts (the
// first, the last, all of them): idphooks judging one value while the IdP
// acts on another would let a client choose which hooks run.
type ErrRepeated struct{ Name string }

func (e *ErrRepeated) Error() string {
	return fmt.Sprintf("parameter %s is repeated or sent in another letter case", e.Name)
}

// Single checks that none of names appears more than once in vals, nor in
// more than one of several value sets (the query and the form of one
// request: frameworks that merge them, like Java servlets and PHP's
// $_REQUEST, then see two values), nor in another letter case at all
// (zitadel's form decoder matches names without regard to case, so
// "Client_Id" is a second client_id there).
func Single(names []string, sets ...url.Values) error {
	for _, n := range names {
		count := 0
		for _, s := range sets {
			count += len(s[n])
		}
		if count > 1 {
			return &ErrRepeated{n}
		}
	}
	for _, s := range sets {
		for k := range s {
			for _, n := range names {
				if k != n && strings.EqualFold(k, n) {
					return &ErrRepeated{n}
				}
			}
		}
	}
	return nil
}

// HasBody reports a method whose form body IdP frameworks read: Go's
// ParseForm (zitadel) reads PUT and PATCH bodies as it reads POST ones.
func HasBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// ReadForm reads an application/x-www-form-urlencoded POST, PUT or PATCH
// body, capped at limit, and puts it back so the IdP receives it. It
// returns nil for other requests. A too large body is a 413, a malformed
// one a 400.
func ReadForm(r *http.Request, limit int64) (url.Values, error) {
	form, _, err := ReadFormBody(r, limit)
	return form, err
}

// ReadFormBody is ReadForm that also returns the body's bytes, as the IdP
// receives them (for edits that keep their order and encoding).
func ReadFormBody(r *http.Request, limit int64) (url.Values, []byte, error) {
	if r.Body == nil || r.Body == http.NoBody || !HasBody(r.Method) || !IsForm(r.Header.Get("Content-Type")) {
		return nil, nil, nil
	}
	var b []byte
	var err error
	if n := r.ContentLength; n >= 0 && n <= min(limit, smallForm) {
		// The usual case: a small declared length, read in one
		// allocation. A larger one is not taken on trust: memory grows
		// with the bytes that arrive, not with what a client announces.
		b = make([]byte, n)
		_, err = io.ReadFull(r.Body, b)
	} else {
		b, err = ReadCapped(r.Body, limit)
	}
	r.Body.Close()
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large", Cause: err}
		}
		return nil, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "request body unreadable", Cause: err}
	}
	SetBody(r, b)
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed form body", Cause: err}
	}
	return form, b, nil
}

// smallForm is the largest announced body length allocated up front.
const smallForm = 8 << 10

// IsForm tells a form-encoded body by its media type; the exact usual
// value is recognised without parsing.
func IsForm(contentType string) bool {
	const form = "application/x-www-form-urlencoded"
	if contentType == form {
		return true
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == form
}

// SetBody replaces r's body with b, for the IdP and for retries.
func SetBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// SetQuery replaces r's query string.
func SetQuery(r *http.Request, q url.Values) {
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
}

// Query parses r's query string. A malformed one is a 400: the IdP's
// parser might read what idphooks' cannot.
func Query(r *http.Request) (url.Values, error) {
	if r.URL.RawQuery == "" {
		return url.Values{}, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed query string", Cause: err}
	}
	return q, nil
}

// Params reads r's query and, for a form POST, its form body (nil
// otherwise), and checks that each of names, the parameters the caller
// reads, stands at most once in the two together (see Single).
func Params(r *http.Request, limit int64, names ...string) (query, form url.Values, err error) {
	if query, err = Query(r); err != nil {
		return nil, nil, err
	}
	if form, err = ReadForm(r, limit); err != nil {
		return nil, nil, err
	}
	if err := Single(names, query, form); err != nil {
		return nil, nil, RepeatedError(err)
	}
	return query, form, nil
}

// SingleHeader returns the one value of header name, or an error when the
// request carries it more than once (an IdP may read another than the
// first).
func SingleHeader(r *http.Request, name string) (string, error) {
	vs := r.Header[name] // canonical names only: Go's server stores them so
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "header " + name + " is repeated"}
}

// RepeatedError turns an ErrRepeated into the 400 invalid_request answer.
func RepeatedError(err error) error {
	var rep *ErrRepeated
	if errors.As(err, &rep) {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: rep.Error(), Cause: err}
	}
	return err
}
