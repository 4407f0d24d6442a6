// Package egress decides which outbound connections idphooks may open on
// behalf of configuration it does not trust: a hook's fetch, a webhook's
// delivery.
//
// The decision is made at dial time, on the resolved addresses, so a public
// name that resolves to a private address, and a redirect to one, are
// caught like a literal address; a deny-list of host names would not be
// enough. By default only the public internet is reachable: loopback,
// private, link-local, CGNAT, documentation, multicast and the other
// special-purpose ranges are refused, and so are the cloud instance
// metadata addresses. A Policy opens doors in that wall.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Resolver looks up the addresses of a host; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrRefused is wrapped by every refused connection.
var ErrRefused = errors.New("egress refused")

// HostError is the refusal of a host name that a Policy with Hosts does not
// list. It wraps ErrRefused.
type HostError struct {
	Host string
}

func (e *HostError) Error() string {
	return fmt.Sprintf("%v: host %s is not in the allowed hosts", ErrRefused, e.Host)
}

func (e *HostError) Unwrap() error { return ErrRefused }

// Policy is what one caller may reach beyond the public internet. The zero
// Policy allows every public address and nothing else. A Policy must not
// be changed once in use; it is safe for concurrent use.
type Policy struct {
	// Hosts, if set, are the only hosts that may be reached: exact names
	// or "*.example.com" patterns (any name below example.com), compared
	// without regard to case or a trailing dot. A listed host may resolve
	// to an address that is otherwise refused (private, loopback, ...),
	// except the cloud metadata addresses.
	Hosts []string

	// CIDRs are address ranges that may be reached although refused by
	// default, e.g. 10.1.0.0/16 for an internal CRM. They are the only way
	// to reach a metadata address. An address literal in a URL within them
	// may be reached even when Hosts is set.
	CIDRs []netip.Prefix

	// Resolver resolves host names before the check.
	// Default: net.DefaultResolver.
	Resolver Resolver
}

// ParsePrefixes reads CIDRs ("10.1.0.0/16") and single addresses
// ("10.1.2.3", taken as a /32 or /128) for Policy.CIDRs.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	ps := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("allowed CIDR %q: %w", s, err)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

// dialTimeout bounds connecting to one address.
const dialTimeout = 10 * time.Second

// DialContext resolves the host of addr, checks every address, and dials
// only the checked ones, so no second lookup can swap the answer in
// between; the socket's peer is checked once more just before it
// connects. Use it as an http.Transport's DialContext, with the
// transport's Proxy nil: a proxy would dial for us, past the checks.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, listed, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: dialTimeout, Control: p.control(listed)}
	var firstErr error
	for _, ip := range ips {
		if err := p.allowed(ip, listed); err != nil {
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

// CheckURL reports why u may not be reached, or nil. It is the check for a
// redirect target of a client whose own dialer is not DialContext (one
// that must reach a single trusted origin that the default rules would
// refuse). It refuses a host if any of its addresses is refused, since
// that dialer may pick any of them. DNS may answer differently at dial
// time: where the dialer can be DialContext, that is the guarantee.
func (p *Policy) CheckURL(ctx context.Context, u *url.URL) error {
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: %q has no host", ErrRefused, u.Redacted())
	}
	ips, listed, err := p.resolve(ctx, host)
	if err != nil {
		return err
	}
	if len(ips) == 0 {
		return fmt.Errorf("%s: no address", host)
	}
	for _, ip := range ips {
		if err := p.allowed(ip, listed); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	return nil
}

// resolve returns the addresses to check for host and whether host is
// listed in Hosts; it refuses a host that Hosts does not allow.
func (p *Policy) resolve(ctx context.Context, host string) (ips []netip.Addr, listed bool, err error) {
	listed = p.hostListed(host)
	literal, err := netip.ParseAddr(host)
	isLiteral := err == nil
	if len(p.Hosts) > 0 && !listed && !(isLiteral && contains(p.CIDRs, literal)) {
		return nil, false, &HostError{Host: host}
	}
	if isLiteral {
		return []netip.Addr{literal}, listed, nil // checked as written, mapped forms included
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	found, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, false, err
	}
	ips = make([]netip.Addr, 0, len(found))
	for _, ip := range found {
		ips = append(ips, ip.Unmap()) // resolvers hand out IPv4 in 16-byte form
	}
	return ips, listed, nil
}

func (p *Policy) hostListed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// allowed reports why ip may not be reached, or nil. The zone of a scoped
// IPv6 address ("[::1%lo]") is dropped first: netip prefixes never contain
// zoned addresses, so a zone would otherwise slip past every check.
func (p *Policy) allowed(ip netip.Addr, hostListed bool) error {
	ip = ip.WithZone("")
	switch {
	case contains(p.CIDRs, ip):
		return nil
	case contains(metadata, ip):
		return fmt.Errorf("%w: %s is a cloud metadata address", ErrRefused, ip)
	case contains(refused, ip) && !hostListed:
		return fmt.Errorf("%w: %s is not a public address", ErrRefused, ip)
	}
	return nil
}

// control re-checks the address the socket actually connects to.
func (p *Policy) control(listed bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return p.allowed(ap.Addr(), listed)
	}
}
