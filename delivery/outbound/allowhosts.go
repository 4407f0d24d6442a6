package outbound

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/idphooks/idphooks/egress"
)

// policyOf builds the egress policy of allow_hosts, and the test of
// which hosts plain http may reach: those listed by name, or an address
// literal within a listed CIDR.
func policyOf(allow []string, r egress.Resolver) (*egress.Policy, func(host string) bool, error) {
	var hosts, cidrs []string
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if a == "" {
			return nil, nil, errors.New("allow_hosts: empty entry")
		}
		// As in a hook block: a CIDR opens a range, anything else (a
		// single address included, so a metadata address stays closed)
		// is a host.
		if _, _, err := net.ParseCIDR(a); err == nil {
			cidrs = append(cidrs, a)
		} else if strings.Contains(a, "/") {
			return nil, nil, fmt.Errorf("allow_hosts: %q is not a CIDR: %v", a, err)
		} else {
			hosts = append(hosts, a)
		}
	}
	prefixes, err := egress.ParsePrefixes(cidrs)
	if err != nil {
		return nil, nil, fmt.Errorf("allow_hosts: %w", err)
	}
	// The same meaning as in a hook block: listed names are the only
	// ones reached (private addresses included), CIDRs open ranges.
	p := &egress.Policy{Hosts: hosts, CIDRs: prefixes, Resolver: r}
	listed := func(host string) bool {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		for _, h := range hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
				return true
			}
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			for _, pr := range prefixes {
				if pr.Contains(ip.Unmap()) {
					return true
				}
			}
		}
		return false
	}
	return p, listed, nil
}
