package oidc

import (
	"net/http"
	"net/url"
	"slices"
)

// issRewriter changes the RFC 9207 iss parameter of authorization
// responses when clients see another issuer than the IdP's. It only looks
// at the Location header, so the body still streams.
type issRewriter struct {
	http.ResponseWriter
	from []string // the IdP's issuers (see acceptedIssuers)
	to   string
	done bool
}

func (w *issRewriter) WriteHeader(status int) {
	if !w.done && status >= 300 && status < 400 {
		if loc := w.Header().Get("Location"); loc != "" {
			if nl, ok := rewriteIssParam(loc, w.from, w.to); ok {
				w.Header().Set("Location", nl)
			}
		}
	}
	if status >= 200 {
		w.done = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *issRewriter) Write(p []byte) (int, error) {
	w.done = true
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// hijack), as Caddy's own wrappers do.
func (w *issRewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// rewriteIssParam replaces iss=<one of from> in the query or fragment of a
// redirect.
func rewriteIssParam(loc string, from []string, to string) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil {
		return loc, false
	}
	changed := false
	if q := u.Query(); q.Has("iss") && slices.Contains(from, q.Get("iss")) {
		q.Set("iss", to)
		u.RawQuery = q.Encode()
		changed = true
	}
	if u.Fragment != "" {
		if f, err := url.ParseQuery(u.Fragment); err == nil && f.Has("iss") && slices.Contains(from, f.Get("iss")) {
			f.Set("iss", to)
			u.Fragment = f.Encode()
			u.RawFragment = ""
			changed = true
		}
	}
	return u.String(), changed
}
