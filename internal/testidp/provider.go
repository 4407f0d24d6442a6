package testidp

import (
	"context"
	"net/http"
	"sync"

	"golang.org/x/oauth2"
)

// DefaultRedirectURI is registered for every client when the options give no
// redirect URI. Nothing listens there; Login stops before following it.
const DefaultRedirectURI = "http://127.0.0.1:9/callback"

// User is a test account known to both providers.
type User struct {
	Username string // what to type into the login form
	Password string
	Subject  string // the "sub" claim
	Email    string
	Name     string // the "name" claim
}

var (
	// TestUser is the main test account.
	TestUser = User{
		Username: "alice",
		Password: "alice-password",
		Subject:  "alice",
		Email:    "alice@example.com",
		Name:     "Alice Example",
	}
	// SecondUser is another account, for tests that need two subjects.
	SecondUser = User{
		Username: "bob",
		Password: "bob-password",
		Subject:  "bob",
		Email:    "bob@example.com",
		Name:     "Bob Example",
	}
)

// Client is an OAuth client registered at a Provider.
type Client struct {
	ID     string
	Secret string
	// AuthStyle is how the client must authenticate at the token,
	// introspection and revocation endpoints (header = client_secret_basic,
	// params = client_secret_post).
	AuthStyle oauth2.AuthStyle
	// JWTAccessTokens is true when every access token of this client is a
	// JWT. oidc-provider clients get JWT access tokens only when a resource
	// indicator (Provider.Resource) is requested.
	JWTAccessTokens bool
}

// Provider is a running OpenID provider.
type Provider struct {
	// Name is "zitadel" or "oidc-provider".
	Name string
	// Clients are the registered confidential web clients. Clients[0]
	// authenticates with client_secret_basic and gets opaque access tokens.
	Clients []Client
	// Resource is a resource indicator (RFC 8707) for which the provider
	// issues RFC 9068 JWT access tokens with the scope ResourceScope; empty
	// when the provider does not support resource indicators.
	Resource string
	// ResourceScope is the scope that the resource server Resource accepts.
	ResourceScope string

	issuer    string
	closeOnce sync.Once
	closeFn   func() error
	closeErr  error
}

// Issuer returns the issuer identifier, e.g. http://127.0.0.1:41234 (no
// trailing slash). Discovery is at Issuer()+"/.well-known/openid-configuration".
func (p *Provider) Issuer() string { return p.issuer }

// Client returns the registered client with the given id, or false.
func (p *Provider) Client(id string) (Client, bool) {
	for _, c := range p.Clients {
		if c.ID == id {
			return c, true
		}
	}
	return Client{}, false
}

// Close stops the provider. It is safe to call more than once.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		if p.closeFn != nil {
			p.closeErr = p.closeFn()
		}
	})
	return p.closeErr
}

// OAuth2Config returns a golang.org/x/oauth2 config for client c with the
// endpoints taken from the discovery document at baseURL (the issuer, or the
// public origin of a proxy in front of it), redirecting to redirectURL.
func OAuth2Config(ctx context.Context, httpClient *http.Client, baseURL string, c Client, redirectURL string, scopes ...string) (*oauth2.Config, error) {
	d, err := FetchDiscovery(ctx, httpClient, baseURL)
	if err != nil {
		return nil, err
	}
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: c.Secret,
		RedirectURL:  redirectURL,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   d.AuthorizationEndpoint,
			TokenURL:  d.TokenEndpoint,
			AuthStyle: c.AuthStyle,
		},
	}, nil
}
