package upstream

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/idphooks/idphooks/interception"
)

// Header marks idphooks' own fetches when they come back through Caddy (an
// upstream URL on the public origin): the interceptor passes such requests
// straight to the IdP instead of waiting on the very fetch that sent them.
const Header = "X-Idphooks-Internal"

// FetchTimeout bounds one fetch of a document.
const FetchTimeout = 10 * time.Second

// maxRedirects bounds the redirects of one fetch.
const maxRedirects = 5

// Client fetches an IdP's documents. Redirects stay on the origin they
// started from, and the own-fetch marker goes only to the upstream's own
// origin: it is a fresh random value per fetch, valid while that fetch
// runs, so a copy seen anywhere is worth nothing afterwards.
type Client struct {
	origin  string // the upstream's scheme://host
	http    *http.Client
	maxBody int64

	mu    sync.Mutex
	marks map[string]int // markers of fetches in flight
}

// NewClient returns a Client for the IdP at base, reading at most maxBody
// bytes of any answer.
func NewClient(base string, maxBody int64) *Client {
	c := &Client{origin: interception.OriginOf(base), maxBody: maxBody, marks: map[string]int{}}
	c.http = &http.Client{Timeout: FetchTimeout, CheckRedirect: checkRedirect}
	return c
}

// SetTimeout changes the bound on one fetch.
func (c *Client) SetTimeout(d time.Duration) { c.http.Timeout = d }

// MaxBody is the cap on what is read of an answer.
func (c *Client) MaxBody() int64 { return c.maxBody }

// checkRedirect keeps a fetch on its first origin: a redirect elsewhere
// could point idphooks' own requests at internal hosts.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return &redirectError{fmt.Sprintf("stopped after %d redirects", maxRedirects)}
	}
	if from, to := via[0].URL, req.URL; !strings.EqualFold(from.Scheme, to.Scheme) || !strings.EqualFold(from.Host, to.Host) {
		return &redirectError{fmt.Sprintf("redirect from %s://%s to another origin (%s://%s) refused", from.Scheme, from.Host, to.Scheme, to.Host)}
	}
	if m := via[0].Header.Get(Header); m != "" {
		req.Header.Set(Header, m)
	}
	return nil
}

// Get fetches target with a size cap; any status but 200 is an error. Its
// errors are *FetchError.
func (c *Client) Get(ctx context.Context, target, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &FetchError{URL: target, Err: err}
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if interception.OriginOf(target) == c.origin {
		m, done := c.Mark()
		defer done()
		req.Header.Set(Header, m)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &FetchError{URL: target, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{URL: target, Status: resp.StatusCode}
	}
	body, err := interception.ReadCapped(resp.Body, c.maxBody)
	if err != nil {
		return nil, &FetchError{URL: target, Err: err}
	}
	return body, nil
}

// Mark returns a fresh marker for one fetch, valid until done is called.
func (c *Client) Mark() (marker string, done func()) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	m := hex.EncodeToString(b[:])
	c.mu.Lock()
	c.marks[m]++
	c.mu.Unlock()
	return m, func() {
		c.mu.Lock()
		if c.marks[m]--; c.marks[m] <= 0 {
			delete(c.marks, m)
		}
		c.mu.Unlock()
	}
}

// IsOwnFetch reports whether r is one of this client's fetches in flight,
// and removes the marker so the IdP never sees it.
func (c *Client) IsOwnFetch(r *http.Request) bool {
	// Indexed directly: the name is canonical, as Go's server stores it,
	// and Get would canonicalise it again on every request.
	vs := r.Header[Header]
	if len(vs) == 0 {
		return false
	}
	delete(r.Header, Header)
	if len(vs) != 1 || len(vs[0]) != 32 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for m := range c.marks {
		if subtle.ConstantTimeCompare([]byte(vs[0]), []byte(m)) == 1 {
			return true
		}
	}
	return false
}

// ErrNotAbsolute is returned for a document URL without scheme and host.
var ErrNotAbsolute = errors.New("not an absolute URL")

// CheckAbsolute returns an error unless u is an absolute http(s) URL.
func CheckAbsolute(u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
		return fmt.Errorf("%q: %w", u, ErrNotAbsolute)
	}
	return nil
}
