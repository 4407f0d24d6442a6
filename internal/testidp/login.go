package testidp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxLoginSteps bounds the pages (forms and redirects) Login goes through.
const maxLoginSteps = 20

// Login drives a provider's HTML login (and consent) pages, starting at
// authorizeURL, and returns the URL the provider finally redirects to at the
// redirect_uri of the request, with code, state and iss (or error) in its
// query. The redirect_uri itself is never requested.
//
// authorizeURL may point at a reverse proxy in front of the provider: every
// form action and Location is resolved against the URL of the page that
// carries it. client should have a cookie jar (one is added to a copy of the
// client when it has none, and then lives for this call only); its
// CheckRedirect is replaced in a copy. A nil client means a new one.
//
// On the login form Login fills the password field with password and the
// first visible text or email field with user; every other form (consent,
// confirmation) is submitted as it is. A login form shown again after the
// credentials were posted is reported as a failed login. A response_mode
// form_post page aimed at the redirect_uri is turned into a URL with the
// posted fields as query.
func Login(ctx context.Context, client *http.Client, authorizeURL string, user, password string) (*url.URL, error) {
	return drive(ctx, client, authorizeURL, "redirect_uri", &credentials{user, password})
}

// Logout drives a provider's RP-initiated logout, starting at endSessionURL
// (the end_session_endpoint with id_token_hint or client_id and
// post_logout_redirect_uri), submitting confirmation forms as they are, and
// returns the URL the provider finally redirects to at the
// post_logout_redirect_uri (with state, if one was sent). client must carry
// the cookie jar used for Login, since providers find the session to end
// by its cookie.
func Logout(ctx context.Context, client *http.Client, endSessionURL string) (*url.URL, error) {
	return drive(ctx, client, endSessionURL, "post_logout_redirect_uri", nil)
}

type credentials struct{ user, password string }

// drive walks pages from startURL, posting their forms, until a redirect (or
// a form_post page) reaches the URL given by the start URL's parameter
// targetParam.
func drive(ctx context.Context, client *http.Client, startURL, targetParam string, creds *credentials) (*url.URL, error) {
	start, err := url.Parse(startURL)
	if err != nil {
		return nil, fmt.Errorf("login: start URL: %w", err)
	}
	redirectURI := start.Query().Get(targetParam)
	if redirectURI == "" {
		return nil, fmt.Errorf("login: start URL has no %s", targetParam)
	}
	target, err := url.Parse(redirectURI)
	if err != nil {
		return nil, fmt.Errorf("login: %s: %w", targetParam, err)
	}

	var c http.Client
	if client != nil {
		c = *client
	}
	if c.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, err
		}
		c.Jar = jar
	}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if atRedirectURI(req.URL, target) {
			return http.ErrUseLastResponse
		}
		if len(via) >= maxLoginSteps {
			return errors.New("login: too many redirects")
		}
		return nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start.String(), nil)
	if err != nil {
		return nil, err
	}
	postedCredentials := false
	for step := 0; step < maxLoginSteps; step++ {
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("login: %s %s: %w", req.Method, req.URL, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("login: read %s: %w", resp.Request.URL, err)
		}
		pageURL := resp.Request.URL

		if isRedirect(resp.StatusCode) {
			loc, err := pageURL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("login: bad Location at %s: %w", pageURL, err)
			}
			if atRedirectURI(loc, target) {
				return loc, nil
			}
			return nil, fmt.Errorf("login: stopped at redirect from %s to %s", pageURL, loc)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("login: %s %s: HTTP %d: %s", req.Method, pageURL, resp.StatusCode, pageText(body, 300))
		}

		doc, err := html.Parse(strings.NewReader(string(body)))
		if err != nil {
			return nil, fmt.Errorf("login: parse %s: %w", pageURL, err)
		}
		form := findForm(doc)
		if form == nil {
			return nil, fmt.Errorf("login: page %s has no form: %s", pageURL, pageText(body, 300))
		}
		action, err := pageURL.Parse(form.action)
		if err != nil {
			return nil, fmt.Errorf("login: bad form action %q at %s: %w", form.action, pageURL, err)
		}
		values := form.values()
		if atRedirectURI(action, target) { // response_mode=form_post
			u := *action
			q := u.Query()
			for k, vs := range values {
				q[k] = vs
			}
			u.RawQuery = q.Encode()
			return &u, nil
		}
		if form.password != "" {
			switch {
			case creds == nil:
				return nil, fmt.Errorf("login: unexpected login form at %s", pageURL)
			case postedCredentials:
				return nil, fmt.Errorf("login: failed for %q at %s: %s", creds.user, pageURL, pageText(body, 300))
			case form.user == "":
				return nil, fmt.Errorf("login: login form at %s has no user field", pageURL)
			}
			values.Set(form.user, creds.user)
			values.Set(form.password, creds.password)
			postedCredentials = true
		}

		method := strings.ToUpper(form.method)
		if method == "" {
			method = http.MethodGet
		}
		if method == http.MethodGet {
			u := *action
			u.RawQuery = values.Encode()
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		} else {
			req, err = http.NewRequestWithContext(ctx, method, action.String(), strings.NewReader(values.Encode()))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		}
		if err != nil {
			return nil, err
		}
		// Some providers check the origin of form posts.
		req.Header.Set("Origin", pageURL.Scheme+"://"+pageURL.Host)
		req.Header.Set("Referer", pageURL.String())
	}
	return nil, errors.New("login: too many steps")
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// atRedirectURI reports whether u addresses the redirect URI target (same
// scheme, host and path; the query may differ).
func atRedirectURI(u, target *url.URL) bool {
	return strings.EqualFold(u.Scheme, target.Scheme) &&
		strings.EqualFold(u.Host, target.Host) &&
		strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(target.Path, "/")
}

type htmlForm struct {
	action, method string
	fields         []formField
	user, password string // names of the login fields, if any
	clicked        bool   // a submit control was seen
}

type formField struct{ name, value string }

func (f *htmlForm) values() url.Values {
	v := url.Values{}
	for _, fl := range f.fields {
		v.Add(fl.name, fl.value)
	}
	return v
}

// findForm returns the first form with a password field, or else the first
// form of the page.
func findForm(doc *html.Node) *htmlForm {
	var forms []*htmlForm
	byID := map[string]*htmlForm{}
	var owned []*html.Node // controls placed by a form="id" attribute
	add := func(f *htmlForm, n *html.Node) {
		switch n.DataAtom {
		case atom.Input:
			f.addInput(n)
		case atom.Button:
			if t := strings.ToLower(attr(n, "type")); t == "" || t == "submit" {
				f.addSubmit(n)
			}
		}
	}
	var walk func(n *html.Node, cur *htmlForm)
	walk = func(n *html.Node, cur *htmlForm) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Form:
				cur = &htmlForm{action: attr(n, "action"), method: attr(n, "method")}
				forms = append(forms, cur)
				if id := attr(n, "id"); id != "" {
					byID[id] = cur
				}
			case atom.Input, atom.Button:
				if _, ok := attrOK(n, "form"); ok {
					owned = append(owned, n)
				} else if cur != nil {
					add(cur, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	for _, n := range owned {
		if f := byID[attr(n, "form")]; f != nil {
			add(f, n)
		}
	}
	for _, f := range forms {
		if f.password != "" {
			return f
		}
	}
	if len(forms) > 0 {
		return forms[0]
	}
	return nil
}

// addSubmit records the first submit control; a browser sends its
// name=value when the user clicks it, and it is the one Login "clicks".
func (f *htmlForm) addSubmit(n *html.Node) {
	if f.clicked {
		return
	}
	f.clicked = true
	if name := attr(n, "name"); name != "" {
		f.fields = append(f.fields, formField{name, attr(n, "value")})
	}
}

func (f *htmlForm) addInput(n *html.Node) {
	if strings.EqualFold(attr(n, "type"), "submit") {
		f.addSubmit(n)
		return
	}
	name := attr(n, "name")
	if name == "" {
		return
	}
	if _, disabled := attrOK(n, "disabled"); disabled {
		return
	}
	switch t := strings.ToLower(attr(n, "type")); t {
	case "password":
		if f.password == "" {
			f.password = name
		}
		f.fields = append(f.fields, formField{name, ""})
	case "", "text", "email":
		if f.user == "" {
			f.user = name
		}
		f.fields = append(f.fields, formField{name, attr(n, "value")})
	case "checkbox", "radio":
		if _, checked := attrOK(n, "checked"); checked {
			v, ok := attrOK(n, "value")
			if !ok {
				v = "on"
			}
			f.fields = append(f.fields, formField{name, v})
		}
	case "button", "image", "reset", "file":
	default: // hidden and other text-like types
		f.fields = append(f.fields, formField{name, attr(n, "value")})
	}
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

// pageText returns the visible text of an HTML page, shortened to max bytes,
// for error messages.
func pageText(body []byte, max int) string {
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		return string(body[:min(len(body), max)])
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Head) {
			return
		}
		if n.Type == html.TextNode {
			if t := strings.TrimSpace(n.Data); t != "" {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(t)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	s := b.String()
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
