package cluster

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

const (
	downLine = "redis unavailable"
	backLine = "redis is back"
)

// Redis stopped: the token path fails closed with the documented 503 on
// both instances, while traffic that needs no state (discovery, the key
// set, the IdP's own pages) passes; each instance logs the episode in one
// line, however many requests met it; once Redis is back, the token path
// recovers by itself (no Caddy restart), with one line saying so.
func TestRedisDown(t *testing.T) {
	c := startCluster(t, clusterOptions{hooks: map[string]string{"claims.js": e2etest.ClaimsHook}})
	t.Cleanup(func() { ensureRedis(t) })
	jar, _ := cookiejar.New(nil)
	cl, _ := idp.Client(testidp.OIDCProviderPostClientID)
	f := login(t, c, c.client(jar, nil), cl)
	marks := map[*caddyProc]int{c.A: c.A.log.mark(), c.B: c.B.log.mark()}

	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*caddyProc{c.A, c.B} {
		via := c.client(jar, p)
		for i := range 10 {
			if a := refreshGrant(via, c.issuer, cl, f.Token.RefreshToken); !a.unavailable() {
				t.Fatalf("%s, Redis down, token request %d: %d %q %v, want 503 temporarily_unavailable", p.name, i, a.status, a.body, a.err)
			}
		}
		// A token of ours cannot be swapped back now: refused too, not
		// passed on to the IdP unswapped.
		if status, body := hintStatus(t, via, c.issuer, f.RawID); status != http.StatusServiceUnavailable {
			t.Errorf("%s, Redis down, id_token_hint of ours: %d %.200s, want 503", p.name, status, body)
		}
		// What needs no state passes.
		disc := discovery(t, via, c.issuer)
		if disc["issuer"] != c.issuer {
			t.Errorf("%s, Redis down: discovery %v", p.name, disc)
		}
		if kids := jwksKids(t, via, c.issuer); len(kids) == 0 {
			t.Errorf("%s, Redis down: an empty key set", p.name)
		}
		if status := authorizePage(t, via, disc, cl); status != http.StatusSeeOther && status != http.StatusFound {
			t.Errorf("%s, Redis down: the IdP's authorization endpoint answered %d, want its redirect to the login page", p.name, status)
		}
	}
	// Let every background user of the connection (the deliverer, key
	// upkeep) meet the outage too before counting.
	time.Sleep(2 * time.Second)
	for p, m := range marks {
		if n := len(p.log.entries(m, downLine)); n != 1 {
			t.Errorf("%s logged %q %d times for one episode, want once", p.name, downLine, n)
		}
	}

	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*caddyProc{c.A, c.B} {
		via := c.client(jar, p)
		var a tokenAnswer
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if a = refreshGrant(via, c.issuer, cl, f.Token.RefreshToken); a.status == http.StatusOK || time.Now().After(deadline) {
				break
			}
		}
		if a.status != http.StatusOK {
			t.Fatalf("%s, Redis back: the token path did not recover: %d %q %v", p.name, a.status, a.body, a.err)
		}
		// Tokens issued before and after the outage swap back. For up
		// to about a second after Redis answers again, go-redis' pool
		// may still fail a command with its last dial error (README:
		// Redis away), so each check gets a few seconds.
		for _, id := range []string{f.RawID, a.id} {
			var status int
			var body string
			for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if status, body = hintStatus(t, via, c.issuer, id); status == http.StatusOK || time.Now().After(deadline) {
					break
				}
			}
			if status != http.StatusOK {
				t.Errorf("%s, Redis back: id_token_hint %d %.200s", p.name, status, body)
			}
		}
		var status int
		var ui map[string]any
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if status, ui = userinfoClaims(t, via, c.issuer, a.access); status == http.StatusOK || time.Now().After(deadline) {
				break
			}
		}
		if status != http.StatusOK || ui["tier"] != "gold" {
			t.Errorf("%s, Redis back: userinfo %d %v", p.name, status, ui)
		}
	}
	for p, m := range marks {
		for deadline := time.Now().Add(5 * time.Second); len(p.log.entries(m, backLine)) == 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
		}
		if n := len(p.log.entries(m, backLine)); n != 1 {
			t.Errorf("%s logged %q %d times, want once", p.name, backLine, n)
		}
		if n := len(p.log.entries(m, downLine)); n != 1 {
			t.Errorf("%s logged %q %d times in all, want once", p.name, downLine, n)
		}
	}
}

// authorizePage starts an authorization request at the discovered
// endpoint through client, without following the IdP's redirect, and
// returns its status.
func authorizePage(t *testing.T, client *http.Client, disc map[string]any, cl testidp.Client) int {
	t.Helper()
	endpoint, _ := disc["authorization_endpoint"].(string)
	q := url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {redirectURI}, "state": {"s"}, "nonce": {"n"}}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(endpoint + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
