package forms

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/sandbox"
)

// checkRedirect validates api.redirect(url) while the hook runs, so that
// its author sees a refused address where they wrote it: absolute https
// URLs, http ones on loopback, or paths on the public origin. Nothing
// else: no javascript: or data:, no protocol-relative //host, no control
// characters that could split a header.
func checkRedirect(op sandbox.Op) error {
	if op.Object != "" || op.Method != "redirect" {
		return nil
	}
	if len(op.Args) == 0 {
		return errors.New("a URL is required")
	}
	s, ok := op.Args[0].(string)
	if !ok {
		return errors.New("the URL must be a string")
	}
	return RedirectAllowed(s)
}

// RedirectAllowed reports why a hook may not send the browser to s.
func RedirectAllowed(s string) error {
	if s == "" || len(s) > 4096 {
		return errors.New("the URL must be 1 to 4096 characters")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return errors.New("the URL holds a control character or a backslash")
		}
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") {
			return errors.New("a protocol-relative URL (//host) is not allowed: use https://host")
		}
		if _, err := url.ParseRequestURI(s); err != nil {
			return errors.New("the path is malformed")
		}
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New("use an absolute https URL or a path on this site")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return errors.New("http is allowed on loopback only: use https")
		}
	default:
		return errors.New("use an absolute https URL or a path on this site")
	}
	if u.User != nil {
		return errors.New("a URL with user information is not allowed")
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redirectOf is the last redirect the hooks asked for.
func redirectOf(ops []sandbox.Op) (string, bool) { return lastCall(ops, "redirect") }

// lastCall is the string argument of the hooks' last call of the api
// function method: the one that stands.
func lastCall(ops []sandbox.Op, method string) (string, bool) {
	for k := len(ops) - 1; k >= 0; k-- {
		if op := ops[k]; op.Object == "" && op.Method == method && len(op.Args) > 0 {
			if s, ok := op.Args[0].(string); ok {
				return s, true
			}
		}
	}
	return "", false
}

// redirect sends the browser to to. keep are headers of the IdP's answer
// that must still reach it (its Set-Cookie: the IdP's session stands).
func redirect(w http.ResponseWriter, to string, keep http.Header) {
	h := w.Header()
	for _, c := range keep.Values("Set-Cookie") {
		h.Add("Set-Cookie", c)
	}
	h.Set("Location", to)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusSeeOther)
}
