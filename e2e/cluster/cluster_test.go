package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// cluster is two idphooks instances, A and B, with the same Caddyfile
// (state redis on the package's server under a key prefix of the
// cluster's own, one shared storage folder for the signing keys and the
// swap secret), behind LB, a Caddy balancing round robin, whose origin is
// the public issuer.
type cluster struct {
	A, B, LB *caddyProc
	issuer   string // LB's origin
	prefix   string // the Redis key prefix
	storage  string // the shared storage folder
	hooks    string // the folder of the hook files
}

// clusterOptions is what a test puts in the instances' idp_hooks block.
type clusterOptions struct {
	// upstream is the IdP (default idp, oidc-provider).
	upstream *testidp.Provider
	// hooks are hook files by name, given in name order.
	hooks map[string]string
	// extra is more of the idp_hooks block (webhooks, say).
	extra string
	// lease, when set, is the delivery lease (default the module's).
	lease time.Duration
}

var prefixes atomic.Int64

// startCluster starts A and B at the same time (so that both meet an
// empty storage together, as a fresh deployment does), then LB.
func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{
		prefix:  fmt.Sprintf("idphooks-t%d-%d:", os.Getpid(), prefixes.Add(1)),
		storage: filepath.Join(t.TempDir(), "storage"),
		hooks:   t.TempDir(),
	}
	lbAddr, aAddr, bAddr := e2etest.FreeAddr(t), e2etest.FreeAddr(t), e2etest.FreeAddr(t)
	c.issuer = "http://" + lbAddr
	var hookLines []string
	for _, name := range slices.Sorted(maps.Keys(o.hooks)) {
		hookLines = append(hookLines, "hook "+e2etest.WriteHook(t, c.hooks, name, o.hooks[name]))
	}
	lease := ""
	if o.lease > 0 {
		lease = "\n\t\t\tlease " + o.lease.String()
	}
	state := fmt.Sprintf("state redis {env.REDIS_ADDR} {\n\t\t\tkey_prefix %s%s\n\t\t}", c.prefix, lease)
	if o.upstream == nil {
		o.upstream = idp
	}
	up, err := url.Parse(o.upstream.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	instance := func(name, addr string) *caddyProc {
		admin := e2etest.FreeAddr(t)
		cf := fmt.Sprintf(`{
	admin %s
	storage file_system %s
	auto_https off
	persist_config off
	log {
		output stderr
		format json
		level INFO
	}
}

http://%s {
	bind 127.0.0.1
	idp_hooks {
		upstream %s
		issuer %s
		%s
		%s
		%s
	}
	reverse_proxy %s
}
`, admin, c.storage, addr, o.upstream.Issuer(), c.issuer, state, strings.Join(hookLines, "\n\t\t"), o.extra, up.Host)
		return newCaddyProc(t, name, addr, admin, cf, "REDIS_ADDR="+redis.Addr)
	}
	c.A, c.B = instance("A", aAddr), instance("B", bAddr)
	c.LB = newCaddyProc(t, "LB", lbAddr, "", fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	log {
		output stderr
		format json
		level WARN
	}
}

http://%s {
	bind 127.0.0.1
	reverse_proxy %s %s {
		lb_policy round_robin
		# a dead instance: the request is tried on the other one
		lb_try_duration 5s
		lb_try_interval 50ms
		fail_duration 10s
	}
}
`, lbAddr, aAddr, bAddr))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []*caddyProc{c.A, c.B} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.run() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	c.LB.start(t)
	return c
}

// client is a user agent for the public issuer's URLs. With via set, its
// requests to LB are sent to that instance instead, unchanged (same
// Host, same URLs), as if the balancer had picked it; nil goes through
// LB. Clients sharing a jar share the IdP's session cookies.
func (c *cluster) client(jar http.CookieJar, via *caddyProc) *http.Client {
	lb := c.LB.addr
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if via != nil && addr == lb {
				addr = via.addr
			}
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Jar: jar, Transport: tr, Timeout: e2etest.ClientTimeout}
}
