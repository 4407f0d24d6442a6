package interception

import (
	"html"
	"net/http"
	"strconv"
)

// PageError is an answer idphooks gives a browser in the IdP's place, when
// the request was a page view (a SAML POST page, a login form) rather than
// an API call: a short HTML page, since a browser shows JSON as text.
// Message is for the end user and never holds upstream data; Cause stays
// in the log.
type PageError struct {
	Status  int
	Message string
	Cause   error
}

func (e *PageError) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

func (e *PageError) Unwrap() error { return e.Cause }

// pageCSP lets the page load nothing and run nothing: it is text.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// WritePage writes a minimal HTML page saying message, never cached.
func WritePage(w http.ResponseWriter, status int, message string) {
	title := http.StatusText(status)
	body := []byte("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(title) +
		"</title></head><body style=\"font-family:sans-serif;margin:3em\"><h1>" + html.EscapeString(title) +
		"</h1><p>" + html.EscapeString(message) + "</p></body></html>\n")
	h := w.Header()
	for _, k := range []string{"Content-Encoding", "ETag", "Last-Modified", "Content-Range", "Accept-Ranges"} {
		h.Del(k)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
