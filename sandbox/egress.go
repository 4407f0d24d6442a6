package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up the addresses of a host; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var defaultResolver Resolver = net.DefaultResolver

// refused are the ranges fetch may not reach unless config allows them:
// anything that is not the public internet.
var refused = prefixes(
	"0.0.0.0/8",       // "this network", unspecified
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::ffff:0:0/96",   // IPv4-mapped: would dodge the IPv4 checks
	"64:ff9b::/96",    // NAT64: embeds any IPv4 address
	"64:ff9b:1::/48",  // local NAT64
	"100::/64",        // discard
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4: embeds any IPv4 address
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"ff00::/8",        // multicast
)

// metadata are the cloud instance metadata endpoints. An allowed host name
// does not unlock them; only an explicit CIDR does.
var metadata = prefixes(
	"169.254.169.254/32", // AWS, GCP, Azure, OpenStack, ...
	"169.254.170.2/32",   // AWS ECS task metadata
	"100.100.100.200/32", // Alibaba Cloud
	"fd00:ec2::254/128",  // AWS IPv6
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func contains(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// egress decides, per hook, which connections fetch may open. It runs at
// dial time on resolved addresses, so DNS names that point inside and
// redirects to inside addresses are caught like literal ones.
type egress struct {
	hosts    []string // exact names or "*.suffix", lower case
	cidrs    []netip.Prefix
	resolver Resolver
}

// ErrEgress is wrapped by every refused fetch connection.
var ErrEgress = errors.New("egress refused")

func newEgress(opts HookOptions, resolver Resolver) (*egress, error) {
	e := &egress{resolver: resolver}
	for _, h := range opts.AllowedHosts {
		e.hosts = append(e.hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	for _, s := range opts.AllowedCIDRs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("allowed CIDR %q: %w", s, err)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		e.cidrs = append(e.cidrs, p.Masked())
	}
	return e, nil
}

func (e *egress) hostListed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range e.hosts {
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// allowed reports why ip may not be reached, or nil. The zone of a
// scoped IPv6 address ("[::1%lo]") is dropped first: netip prefixes never
// contain zoned addresses, so a zone would otherwise slip past every check.
func (e *egress) allowed(ip netip.Addr, hostListed bool) error {
	ip = ip.WithZone("")
	switch {
	case contains(e.cidrs, ip):
		return nil
	case contains(metadata, ip):
		return fmt.Errorf("%w: %s is a cloud metadata address", ErrEgress, ip)
	case contains(refused, ip) && !hostListed:
		return fmt.Errorf("%w: %s is not a public address", ErrEgress, ip)
	}
	return nil
}

// dialContext resolves, checks every address, and dials only the checked
// ones: no second lookup can swap the answer in between.
func (e *egress) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	listed := e.hostListed(host)
	literal, err := netip.ParseAddr(host)
	isLiteral := err == nil
	if len(e.hosts) > 0 && !listed && !(isLiteral && contains(e.cidrs, literal)) {
		return nil, fmt.Errorf("%w: host %s is not in the hook's allowed hosts", ErrEgress, host)
	}
	var ips []netip.Addr
	if isLiteral {
		ips = []netip.Addr{literal} // checked as written, mapped forms included
	} else {
		found, err := e.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		for _, ip := range found {
			ips = append(ips, ip.Unmap()) // resolvers hand out IPv4 in 16-byte form
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second, Control: e.control(listed)}
	var firstErr error
	for _, ip := range ips {
		if err := e.allowed(ip, listed); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", host, err)
			}
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		firstErr = err
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s: no address", host)
	}
	return nil, firstErr
}

// control re-checks the address the socket actually connects to.
func (e *egress) control(listed bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrEgress, err)
		}
		return e.allowed(ap.Addr(), listed)
	}
}

const maxRedirects = 5

// newClient builds the hook's HTTP client: its own transport, so the
// egress rules and connection pool are the hook's alone.
func (eng *Engine) newClient(opts HookOptions) (*http.Client, error) {
	e, err := newEgress(opts, eng.opts.Resolver)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us, past the checks
			DialContext:           e.dialContext,
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
