package forms

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/interception"
)

// again answers a stopped post with the IdP's own page for its form,
// showing message where the IdP shows its errors and the values typed so
// far (never a secret). The post never reaches the IdP: the profile's
// request for the page in its place does, and acts on nothing.
func (i *Interceptor) again(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, p *post, message string) error {
	fallback := func(cause error) error {
		// The IdP's page could not be had: a plain one says why.
		return &interception.PageError{Status: http.StatusForbidden, Message: message, Cause: cause}
	}
	req, err := i.cfg.Profile.Again(r, p.form, p.values)
	if err != nil {
		return fallback(err)
	}
	interception.DecodableOnly(req.Header)
	c := interception.NewCapture(w, i.cfg.MaxBody, nil)
	defer c.Release()
	err = c.Serve(next, req)
	if err != nil && !c.Held() {
		return err
	}
	if err != nil || c.Over() {
		return fallback(fmt.Errorf("the IdP's page: %w", errors.Join(err, interception.ErrTooLarge)))
	}
	if c.Status() != http.StatusOK || !isHTML(c.Header()) {
		return fallback(fmt.Errorf("the IdP answered the page's request with %d %s", c.Status(), c.Header().Get("Content-Type")))
	}
	body, err := c.Body()
	if err != nil {
		return fallback(err)
	}
	m, ok := i.cfg.Profile.Markup(p.form)
	if !ok {
		return fallback(errors.New("the profile knows no markup for this form"))
	}
	out, err := ScanPage(body, m).Show(message, p.typed())
	if err != nil {
		return fallback(err)
	}
	c.WriteBody("", out)
	return nil
}

// typed are the values to show again: every field but the secrets.
func (p *post) typed() map[string]string {
	m := make(map[string]string, len(p.values))
	for k, vs := range p.values {
		if len(vs) > 0 && !p.secret(k) {
			m[k] = vs[0]
		}
	}
	return m
}

// isHTML tells an HTML answer by its type; none at all is sniffed by
// browsers, and may be HTML.
func isHTML(h http.Header) bool {
	ct := strings.ToLower(h.Get("Content-Type"))
	return ct == "" || strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/xhtml")
}

// AgainByGet is the request for a form's page most IdPs answer without
// acting: a GET of the post's URL, the query parameters in drop removed
// (one-time codes the post used up) and the fields in carry copied from
// the post into the query (state a form posts in a hidden field). It
// never carries the post's body.
func AgainByGet(post *http.Request, drop, carry []string, form url.Values) (*http.Request, error) {
	q, err := url.ParseQuery(post.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	for _, k := range drop {
		q.Del(k)
	}
	for _, k := range carry {
		if v := form.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	r := post.Clone(post.Context())
	r.Method = http.MethodGet
	r.URL.RawQuery = q.Encode()
	r.RequestURI = r.URL.RequestURI()
	r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
	for _, h := range []string{"Content-Type", "Content-Length", "Transfer-Encoding", "Origin"} {
		r.Header.Del(h)
	}
	return r, nil
}
