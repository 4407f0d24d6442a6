package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/idphooks/idphooks/egress"
)

const maxRedirects = 5

// newClient builds the hook's HTTP client: its own transport, so the
// egress rules and connection pool are the hook's alone.
func (eng *Engine) newClient(opts HookOptions) (*http.Client, error) {
	cidrs, err := egress.ParsePrefixes(opts.AllowedCIDRs)
	if err != nil {
		return nil, err
	}
	policy := &egress.Policy{Hosts: opts.AllowedHosts, CIDRs: cidrs, Resolver: eng.opts.Resolver}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us, past the checks
			DialContext:           hookDialer(policy),
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return nil
		},
	}, nil
}

// hookDialer dials through the policy and names the hook's allow_hosts in
// the one refusal a hook author causes by config rather than by address.
func hookDialer(p *egress.Policy) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := p.DialContext(ctx, network, addr)
		if he := (*egress.HostError)(nil); errors.As(err, &he) {
			err = fmt.Errorf("%w: host %s is not in the hook's allowed hosts", egress.ErrRefused, he.Host)
		}
		return conn, err
	}
}
