package samlsp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/crewjam/saml"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxSteps bounds the pages one browser walk goes through.
const maxSteps = 20

// maxPage caps a page the browser reads.
const maxPage = 4 << 20

// Login runs an SP-initiated login: an AuthnRequest through the
// HTTP-Redirect binding to the IdP's SSO endpoint, the IdP's login form
// filled with user and password, the HTTP-POST binding page's
// SAMLResponse and RelayState posted to the ACS. It returns what the SP
// accepted, or the SP's (or the IdP's) refusal.
//
// browser should keep cookies (a copy with a new jar is used when it has
// none, so that the IdP session ends with the call): the IdP's session
// lives in them, and a second Login with the same jar skips the form.
// Redirects are followed by browser as it would; a nil browser is a new
// client.
func (s *SP) Login(ctx context.Context, browser *http.Client, user, password string) (*Result, error) {
	sso := s.SP.GetSSOBindingLocation(saml.HTTPRedirectBinding)
	if sso == "" {
		return nil, errors.New("samlsp: the IdP metadata has no HTTP-Redirect SingleSignOnService")
	}
	req, err := s.SP.MakeAuthenticationRequest(sso, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return nil, fmt.Errorf("samlsp: AuthnRequest: %w", err)
	}
	relay := newRelayState()
	u, err := req.Redirect(relay, s.SP)
	if err != nil {
		return nil, fmt.Errorf("samlsp: AuthnRequest: %w", err)
	}
	s.mu.Lock()
	s.pending[relay] = req.ID
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, relay)
		s.mu.Unlock()
	}()
	return s.loginWalk(ctx, browser, u.String(), relay, user, password)
}

// LoginIdPInitiated starts at the IdP's own URL for this SP (Keycloak:
// /realms/R/protocol/saml/clients/<url name>), logs in with user and
// password and posts the unsolicited response to the ACS. The response
// has no InResponseTo; the RelayState is whatever the IdP sends (Keycloak
// sends none).
func (s *SP) LoginIdPInitiated(ctx context.Context, browser *http.Client, idpURL, user, password string) (*Result, error) {
	return s.loginWalk(ctx, browser, idpURL, "", user, password)
}

func (s *SP) loginWalk(ctx context.Context, browser *http.Client, start, relay, user, password string) (*Result, error) {
	b, err := newBrowser(browser)
	if err != nil {
		return nil, err
	}
	creds := &credentials{user: user, password: password}
	err = b.walk(ctx, start, creds, func(page *url.URL) bool {
		return s.ours(page) && page.Path == ACSPath
	}, false)
	if err != nil {
		return nil, err
	}
	o, ok := s.take(relay)
	if !ok || (o.login == nil && o.err == nil) {
		return nil, fmt.Errorf("samlsp: the browser reached the ACS but the SP recorded no login for RelayState %q", relay)
	}
	if o.login != nil {
		o.login.Prompted = creds.used
	}
	return o.login, o.err
}

// ours tells whether u is on the SP's listener.
func (s *SP) ours(u *url.URL) bool { return u.Host == s.ln.Addr().String() }

type credentials struct {
	user, password string
	used           bool
}

type browser struct{ c http.Client }

func newBrowser(c *http.Client) (*browser, error) {
	b := &browser{}
	if c != nil {
		b.c = *c
	}
	if b.c.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, err
		}
		b.c.Jar = jar
	}
	return b, nil
}

// walk loads start and goes on as a browser with scripts would: the
// Keycloak login form is filled with creds, SAML POST binding forms are
// posted as they are, and with submitAny any other form too (logout
// confirmations). It stops when done says the page reached is the end, or,
// without submitAny's form, on a page with nothing to submit (done then
// decides nothing and walk returns nil only when submitAny is set).
func (b *browser) walk(ctx context.Context, start string, creds *credentials, done func(*url.URL) bool, submitAny bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return fmt.Errorf("samlsp: %w", err)
	}
	for step := 0; step < maxSteps; step++ {
		resp, err := b.c.Do(req)
		if err != nil {
			return fmt.Errorf("samlsp: browser: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("samlsp: browser: %s: %w", resp.Request.URL, err)
		}
		page := resp.Request.URL
		if done(page) {
			return nil
		}
		doc, err := html.Parse(strings.NewReader(string(body)))
		if err != nil {
			return fmt.Errorf("samlsp: browser: %s: %w", page, err)
		}
		f := pickForm(doc, creds, submitAny)
		if f == nil {
			if submitAny {
				return nil
			}
			return fmt.Errorf("samlsp: browser: HTTP %d at %s: no form to go on with: %s", resp.StatusCode, page, pageText(doc))
		}
		if f.login {
			if creds == nil {
				return fmt.Errorf("samlsp: browser: %s asks for a login", page)
			}
			if creds.used {
				return fmt.Errorf("samlsp: browser: the login form came back after the credentials were posted: %s", pageText(doc))
			}
			creds.used = true
			f.fields.Set("username", creds.user)
			f.fields.Set("password", creds.password)
		}
		action, err := page.Parse(f.action)
		if err != nil {
			return fmt.Errorf("samlsp: browser: form action %q: %w", f.action, err)
		}
		if f.method == http.MethodGet {
			action.RawQuery = f.fields.Encode()
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
		} else {
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(f.fields.Encode()))
			if err == nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				// Browsers send the page's origin with a form post.
				req.Header.Set("Origin", page.Scheme+"://"+page.Host)
			}
		}
		if err != nil {
			return fmt.Errorf("samlsp: browser: %w", err)
		}
	}
	return fmt.Errorf("samlsp: browser: more than %d pages", maxSteps)
}

type form struct {
	action, method string
	fields         url.Values
	login          bool // Keycloak's #kc-form-login
}

// pickForm finds what a browser would submit on doc: Keycloak's login
// form (#kc-form-login) or another with a password field (SimpleSAMLphp's),
// else a form carrying SAMLResponse or SAMLRequest (the POST
// binding page, submitted on load), else with any the first form with its
// first submit button.
func pickForm(doc *html.Node, creds *credentials, any bool) *form {
	var forms []*html.Node
	var find func(*html.Node)
	find = func(n *html.Node) {
		if n.Type == html.ElementNode && n.DataAtom == atom.Form {
			forms = append(forms, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	find(doc)
	for _, n := range forms {
		if attr(n, "id") == "kc-form-login" || hasPassword(n) {
			f := readForm(n, false)
			f.login = true
			return f
		}
	}
	for _, n := range forms {
		f := readForm(n, false)
		if f.fields.Has("SAMLResponse") || f.fields.Has("SAMLRequest") {
			return f
		}
	}
	if any && len(forms) > 0 {
		return readForm(forms[0], true)
	}
	return nil
}

// readForm collects a form's action, method and the fields a browser
// would send: named inputs (checkboxes and radios only when checked),
// textareas and selects, and with button the first named submit button.
func readForm(n *html.Node, button bool) *form {
	f := &form{action: attr(n, "action"), method: strings.ToUpper(attr(n, "method")), fields: url.Values{}}
	if f.method != http.MethodGet {
		f.method = http.MethodPost
	}
	pressed := !button
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.ElementNode {
			name := attr(c, "name")
			switch c.DataAtom {
			case atom.Input:
				typ := strings.ToLower(attr(c, "type"))
				switch {
				case name == "":
				case typ == "submit" || typ == "image":
					if !pressed {
						f.fields.Add(name, attr(c, "value"))
						pressed = true
					}
				case typ == "checkbox" || typ == "radio":
					if hasAttr(c, "checked") {
						f.fields.Add(name, valueOr(c, "on"))
					}
				case typ == "button" || typ == "reset" || typ == "file":
				default:
					f.fields.Add(name, attr(c, "value"))
				}
			case atom.Button:
				typ := strings.ToLower(attr(c, "type"))
				if name != "" && !pressed && (typ == "" || typ == "submit") {
					f.fields.Add(name, attr(c, "value"))
					pressed = true
				}
			case atom.Textarea:
				if name != "" {
					f.fields.Add(name, text(c))
				}
			}
		}
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(n)
	return f
}

// hasPassword tells whether form n has a password input.
func hasPassword(n *html.Node) bool {
	if n.Type == html.ElementNode && n.DataAtom == atom.Input && strings.EqualFold(attr(n, "type"), "password") {
		return true
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if hasPassword(c) {
			return true
		}
	}
	return false
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return true
		}
	}
	return false
}

func valueOr(n *html.Node, def string) string {
	if hasAttr(n, "value") {
		return attr(n, "value")
	}
	return def
}

func text(n *html.Node) string {
	var sb strings.Builder
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.TextNode {
			sb.WriteString(c.Data)
		}
		if c.Type == html.ElementNode && (c.DataAtom == atom.Script || c.DataAtom == atom.Style) {
			return
		}
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(n)
	return sb.String()
}

// pageText is a page's visible text in one line, cut, for error messages.
func pageText(doc *html.Node) string {
	t := strings.Join(strings.Fields(text(doc)), " ")
	if len(t) > 400 {
		t = t[:400] + "…"
	}
	return fmt.Sprintf("%q", t)
}

func newRelayState() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func xmlBytes(v any) ([]byte, error) {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}
