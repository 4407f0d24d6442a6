package oidc

import (
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/interception"
)

// serveRewritingIss changes the RFC 9207 iss parameter of authorization
// responses when clients see another issuer than the IdP's: in the
// Location of redirects, and in the hidden field of form_post pages (an
// HTML page that posts code, state and iss to the client). Only HTML pages
// are held back, up to the cap; a larger one, and everything else, streams.
func (i *Interceptor) serveRewritingIss(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *Discovery) error {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		// A form_post page must come uncompressed to be rewritten.
		r.Header.Set("Accept-Encoding", "identity")
	}
	from, to := d.acceptedIssuers(interception.PublicOrigin(r)), i.cfg.Issuer
	c := interception.NewCapture(w, i.cfg.MaxBody, isHTMLPage).OnOverflow(interception.Stream).
		OnHeader(func(status int, h http.Header) {
			if status >= 300 && status < 400 {
				if loc := h.Get("Location"); loc != "" {
					if nl, ok := rewriteIssParam(loc, from, to); ok {
						h.Set("Location", nl)
					}
				}
			}
		})
	defer c.Release()
	err := c.Serve(next, r)
	if !c.Held() || err != nil {
		return err
	}
	page := c.Raw()
	if np, ok := interception.SetInputValues(page, "iss", func(v string) bool { return slices.Contains(from, v) }, to); ok {
		c.WriteBody("", np)
		return nil
	}
	c.WriteHeld()
	return nil
}

// isHTMLPage holds uncompressed HTML pages: the form_post ones are among
// them.
func isHTMLPage(status int, h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	enc := h.Get("Content-Encoding")
	return status >= 200 && status < 300 && mt == "text/html" && (enc == "" || enc == "identity")
}

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
