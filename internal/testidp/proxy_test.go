package testidp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// TestLoginThroughProxy drives the login of each provider through a reverse
// proxy that, like Caddy's reverse_proxy, keeps the Host header and adds
// X-Forwarded-*; the code it returns is redeemed at the provider.
func TestLoginThroughProxy(t *testing.T) {
	for _, p := range []*Provider{zitadelIdP, nodeIdP} {
		t.Run(p.Name, func(t *testing.T) {
			up, err := url.Parse(p.Issuer())
			if err != nil {
				t.Fatal(err)
			}
			var posts atomic.Int32
			proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(up)
				r.SetXForwarded()
				r.Out.Host = r.In.Host
				if r.In.Method == http.MethodPost {
					posts.Add(1)
				}
			}})
			defer proxy.Close()

			ctx := context.Background()
			d, err := FetchDiscovery(ctx, nil, p.Issuer())
			if err != nil {
				t.Fatal(err)
			}
			au, err := url.Parse(d.AuthorizationEndpoint)
			if err != nil {
				t.Fatal(err)
			}
			c := p.Clients[0]
			conf := &oauth2.Config{
				ClientID: c.ID, ClientSecret: c.Secret, RedirectURL: testRedirectURI,
				Scopes: []string{"openid", "email"},
				Endpoint: oauth2.Endpoint{
					AuthURL: proxy.URL + au.Path, TokenURL: d.TokenEndpoint, AuthStyle: c.AuthStyle,
				},
			}
			v := oauth2.GenerateVerifier()
			cb, err := Login(ctx, newBrowser(t), conf.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), TestUser.Username, TestUser.Password)
			if err != nil {
				t.Fatal(err)
			}
			if posts.Load() == 0 {
				t.Error("the login form was not posted through the proxy")
			}
			tok, err := conf.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(v))
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken == "" {
				t.Fatal("no access token")
			}
		})
	}
}
