package egress_test

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/idphooks/idphooks/egress"
)

// A client whose every connection, redirects included, passes the policy.
func ExamplePolicy_DialContext() {
	cidrs, err := egress.ParsePrefixes([]string{"10.1.0.0/16"})
	if err != nil {
		panic(err)
	}
	policy := &egress.Policy{Hosts: []string{"crm.example", "*.crm.example"}, CIDRs: cidrs}
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:       nil, // a proxy would dial for us, past the checks
			DialContext: policy.DialContext,
		},
	}
	_ = client
}

// A client that must reach one trusted internal origin with a plain
// dialer checks where it is sent next.
func ExamplePolicy_CheckURL() {
	policy := &egress.Policy{}
	client := &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return policy.CheckURL(req.Context(), req.URL)
		},
	}
	_ = client
	u, _ := url.Parse("http://169.254.169.254/latest/meta-data/")
	_ = policy.CheckURL(context.Background(), u) // egress refused: 169.254.169.254 is a cloud metadata address
}
