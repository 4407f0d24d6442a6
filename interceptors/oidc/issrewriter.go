package oidc

import (
	"bytes"
	"html"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	xhtml "golang.org/x/net/html"
)

// issRewriter changes the RFC 9207 iss parameter of authorization
// responses when clients see another issuer than the IdP's: in the
// Location of redirects, and in the hidden field of form_post pages (a 200
// HTML page that posts code, state and iss to the client). Only HTML pages
// are held back, up to a cap; everything else streams.
type issRewriter struct {
	http.ResponseWriter
	from  []string // the IdP's issuers (see acceptedIssuers)
	to    string
	limit int64

	done   bool          // status sent (or decided)
	hold   bool          // buffering an HTML page
	status int           // held status
	buf    *bytes.Buffer // held body
}

func (w *issRewriter) WriteHeader(status int) {
	if w.done {
		return
	}
	if status >= 300 && status < 400 {
		if loc := w.Header().Get("Location"); loc != "" {
			if nl, ok := rewriteIssParam(loc, w.from, w.to); ok {
				w.Header().Set("Location", nl)
			}
		}
	}
	if status < 200 {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.done = true
	mt, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	enc := w.Header().Get("Content-Encoding")
	if status == http.StatusOK && mt == "text/html" && (enc == "" || enc == "identity") {
		w.hold, w.status, w.buf = true, status, new(bytes.Buffer)
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *issRewriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	if !w.hold {
		return w.ResponseWriter.Write(p)
	}
	if int64(w.buf.Len()+len(p)) > w.limit {
		// Too large for a form_post page: send what is held, unchanged,
		// and stream the rest.
		w.hold = false
		w.ResponseWriter.WriteHeader(w.status)
		if _, err := w.ResponseWriter.Write(w.buf.Bytes()); err != nil {
			return 0, err
		}
		return w.ResponseWriter.Write(p)
	}
	return w.buf.Write(p)
}

// Flush is held back with the page.
func (w *issRewriter) Flush() {
	if w.hold {
		return
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// finish sends a held page, its iss field rewritten.
func (w *issRewriter) finish() {
	if !w.hold {
		return
	}
	w.hold = false
	body := w.buf.Bytes()
	if nb, ok := rewriteFormPostIss(body, w.from, w.to); ok {
		body = nb
		h := w.Header()
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Del("ETag")
	}
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(body)
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

// rewriteFormPostIss finds <input name="iss" value="<one of from>"> tags
// in an HTML page and replaces their value, splicing only those tags' bytes.
func rewriteFormPostIss(page []byte, from []string, to string) ([]byte, bool) {
	if !bytes.Contains(bytes.ToLower(page), []byte("iss")) {
		return page, false
	}
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	var out bytes.Buffer
	changed := false
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			break
		}
		raw := z.Raw()
		if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
			if nt, ok := rewriteIssInput(z, raw, from, to); ok {
				out.Write(nt)
				changed = true
				continue
			}
		}
		out.Write(raw)
	}
	if !changed {
		return page, false
	}
	return out.Bytes(), true
}

// rewriteIssInput rewrites one raw tag if it is the iss field of a form.
func rewriteIssInput(z *xhtml.Tokenizer, raw []byte, from []string, to string) ([]byte, bool) {
	name, hasAttr := z.TagName()
	if string(name) != "input" || !hasAttr {
		return nil, false
	}
	var isIss bool
	var value string
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch strings.ToLower(string(k)) {
		case "name":
			isIss = string(v) == "iss"
		case "value":
			value = string(v)
		}
	}
	if !isIss || !slices.Contains(from, value) {
		return nil, false
	}
	// The value stands in the raw tag escaped or as it is.
	for _, old := range []string{html.EscapeString(value), value} {
		if i := bytes.Index(raw, []byte(old)); i >= 0 {
			nt := append([]byte{}, raw[:i]...)
			nt = append(nt, html.EscapeString(to)...)
			return append(nt, raw[i+len(old):]...), true
		}
	}
	return nil, false
}
