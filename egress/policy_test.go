package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// mapResolver answers from a fixed table, standing in for DNS (which
// ignores case and a trailing dot).
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := m[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return ips, nil
	}
	return nil, errors.New("no such host " + host)
}

func addrs(ss ...string) []netip.Addr {
	ips := make([]netip.Addr, len(ss))
	for i, s := range ss {
		ips[i] = netip.MustParseAddr(s)
	}
	return ips
}

var resolver = mapResolver{
	"public.test":   addrs("93.184.215.14"),
	"inside.test":   addrs("10.1.2.3"),
	"loopback.test": addrs("127.0.0.1"),
	"meta.test":     addrs("169.254.169.254"),
	"mapped.test":   addrs("::ffff:127.0.0.1"),
	"v6meta.test":   addrs("fd00:ec2::254"),
	"cgnat.test":    addrs("100.64.0.1"),
	"mixed.test":    addrs("93.184.215.14", "10.1.2.3"),
	"localhost":     addrs("127.0.0.1", "::1"),
}

func mustPrefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	ps, err := ParsePrefixes(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// The rules, judged on the addresses a URL's host stands for.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		policy Policy
		want   string // "" means allowed
	}{
		{"public literal", "http://93.184.215.14/", Policy{}, ""},
		{"public name", "https://public.test/x", Policy{}, ""},
		{"public ipv6", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/", Policy{}, ""},
		{"loopback literal", "http://127.0.0.1:8080/", Policy{}, "127.0.0.1 is not a public address"},
		{"localhost", "http://localhost/", Policy{}, "not a public address"},
		{"name resolving to loopback", "http://loopback.test/", Policy{}, "not a public address"},
		{"name resolving to private", "http://inside.test/", Policy{}, "10.1.2.3 is not a public address"},
		{"name resolving to CGNAT", "http://cgnat.test/", Policy{}, "not a public address"},
		{"one of the names' addresses private", "http://mixed.test/", Policy{}, "10.1.2.3 is not a public address"},
		{"private ranges", "http://192.168.1.1/", Policy{}, "not a public address"},
		{"documentation range", "http://198.51.100.7/", Policy{}, "not a public address"},
		{"multicast", "http://224.0.0.1/", Policy{}, "not a public address"},
		{"unspecified", "http://0.0.0.0/", Policy{}, "not a public address"},
		{"metadata literal", "http://169.254.169.254/latest/meta-data/", Policy{}, "cloud metadata"},
		{"metadata by name", "http://meta.test/", Policy{}, "cloud metadata"},
		{"metadata v6", "http://v6meta.test/", Policy{}, "cloud metadata"},
		{"metadata with host listed", "http://meta.test/", Policy{Hosts: []string{"meta.test"}}, "cloud metadata"},
		{"metadata with link-local allowed", "http://169.254.169.254/", Policy{CIDRs: mustPrefixes(t, "169.254.0.0/16")}, ""},
		{"ipv4-mapped literal", "http://[::ffff:127.0.0.1]/", Policy{}, "not a public address"},
		{"ipv4-mapped by name", "http://mapped.test/", Policy{}, "not a public address"},
		{"NAT64", "http://[64:ff9b::7f00:1]/", Policy{}, "not a public address"},
		{"6to4", "http://[2002:7f00:1::]/", Policy{}, "not a public address"},
		{"ipv6 loopback", "http://[::1]/", Policy{}, "not a public address"},
		{"ipv6 loopback with a zone", "http://[::1%25lo]/", Policy{}, "not a public address"},
		{"ipv6 link-local with a zone", "http://[fe80::1%25eth0]/", Policy{}, "not a public address"},
		{"unique local", "http://[fd12::1]/", Policy{}, "not a public address"},
		{"CIDR opens a range", "http://10.1.9.9/", Policy{CIDRs: mustPrefixes(t, "10.1.0.0/16")}, ""},
		{"CIDR opens only its range", "http://10.2.0.1/", Policy{CIDRs: mustPrefixes(t, "10.1.0.0/16")}, "not a public address"},
		{"single address as CIDR", "http://inside.test/", Policy{CIDRs: mustPrefixes(t, "10.1.2.3")}, ""},
		{"listed host may be private", "http://inside.test/", Policy{Hosts: []string{"inside.test"}}, ""},
		{"listed suffix", "http://inside.test/", Policy{Hosts: []string{"*.test"}}, ""},
		{"listed host, other case and trailing dot", "http://INSIDE.test./", Policy{Hosts: []string{"Inside.Test."}}, ""},
		{"suffix is not the apex", "http://test/", Policy{Hosts: []string{"*.test"}}, "not in the allowed hosts"},
		{"host not listed", "http://public.test/", Policy{Hosts: []string{"crm.example"}}, "not in the allowed hosts"},
		{"literal in a CIDR passes a host list", "http://10.1.2.3/", Policy{Hosts: []string{"crm.example"}, CIDRs: mustPrefixes(t, "10.1.0.0/16")}, ""},
		{"literal outside the CIDRs fails a host list", "http://93.184.215.14/", Policy{Hosts: []string{"crm.example"}}, "not in the allowed hosts"},
		{"no host", "file:///etc/passwd", Policy{}, "has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			p := tt.policy
			p.Resolver = resolver
			err = p.CheckURL(context.Background(), u)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// DialContext connects only to checked addresses, and to an allowed one
// among a name's addresses when others are refused.
func TestDialContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	res := mapResolver{
		"loopback.test": addrs("127.0.0.1"),
		"meta.test":     addrs("169.254.169.254"),
		"two.test":      addrs("10.9.9.9", "127.0.0.1"),
	}
	tests := []struct {
		name   string
		host   string
		policy Policy
		want   string
	}{
		{"loopback refused", "127.0.0.1", Policy{}, "127.0.0.1 is not a public address"},
		{"loopback by name refused", "loopback.test", Policy{}, "not a public address"},
		{"loopback allowed by CIDR", "127.0.0.1", Policy{CIDRs: mustPrefixes(t, "127.0.0.1/32")}, ""},
		{"loopback allowed by host", "loopback.test", Policy{Hosts: []string{"loopback.test"}}, ""},
		{"metadata by listed name", "meta.test", Policy{Hosts: []string{"meta.test"}}, "cloud metadata"},
		{"host not listed", "loopback.test", Policy{Hosts: []string{"crm.example"}}, "not in the allowed hosts"},
		{"the allowed one of two addresses", "two.test", Policy{CIDRs: mustPrefixes(t, "127.0.0.0/8")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			p.Resolver = res
			conn, err := p.DialContext(context.Background(), "tcp", net.JoinHostPort(tt.host, port))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				conn.Close()
				return
			}
			if conn != nil {
				conn.Close()
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	var he *HostError
	_, err = (&Policy{Hosts: []string{"crm.example"}, Resolver: res}).DialContext(context.Background(), "tcp", "loopback.test:"+port)
	if !errors.As(err, &he) || he.Host != "loopback.test" {
		t.Fatalf("err = %#v, want a HostError", err)
	}
}

// The socket's peer is checked again just before it connects.
func TestControlRechecksThePeer(t *testing.T) {
	p := &Policy{}
	if err := p.control(false)("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("loopback peer: %v", err)
	}
	if err := p.control(false)("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Fatalf("public peer: %v", err)
	}
	if err := p.control(true)("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Fatalf("listed host's peer: %v", err)
	}
	if err := p.control(true)("tcp4", "169.254.169.254:80", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("metadata peer of a listed host: %v", err)
	}
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes([]string{"10.1.2.3/16", "192.0.2.7", "fd00::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.1.0.0/16", "192.0.2.7/32", "fd00::1/128"}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("%d: %s, want %s", i, p, want[i])
		}
	}
	if _, err := ParsePrefixes([]string{"crm.example"}); err == nil || !strings.Contains(err.Error(), `allowed CIDR "crm.example"`) {
		t.Fatalf("err = %v", err)
	}
}
