package testidp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"
)

// Client ids and secrets registered at the zitadel/oidc example OP.
const (
	// ZitadelWebClientID gets opaque (Bearer) access tokens.
	ZitadelWebClientID     = "web"
	ZitadelWebClientSecret = "web-secret"
	// ZitadelJWTClientID gets JWT access tokens.
	ZitadelJWTClientID     = "web-jwt"
	ZitadelJWTClientSecret = "web-jwt-secret"
)

// ZitadelOptions configures StartZitadel.
type ZitadelOptions struct {
	// RedirectURIs are registered for both clients (exact match). Empty
	// means DefaultRedirectURI.
	RedirectURIs []string
	// PostLogoutRedirectURIs are accepted by the end_session endpoint.
	PostLogoutRedirectURIs []string
	// IDTokenUserinfoClaims puts the profile and email claims into ID tokens
	// even when an access token is issued (the example OP leaves them to
	// the userinfo endpoint by default).
	IDTokenUserinfoClaims bool
	// SessionIDs puts a sid claim in ID tokens of the code flow, one per
	// authorization request, as IdPs with login sessions do (the example
	// OP has none).
	SessionIDs bool
}

// StartZitadel starts the zitadel/oidc example OpenID Provider in-process on
// 127.0.0.1 with a random port.
//
// It registers ZitadelWebClientID (opaque access tokens) and
// ZitadelJWTClientID (JWT access tokens), both confidential web clients
// authenticating with client_secret_basic (the token endpoint accepts
// client_secret_post too, introspection only Basic), with the authorization_code, refresh_token (scope offline_access)
// and token exchange grants. Login with TestUser or SecondUser. The
// authorization endpoint is /auth; introspection (/oauth/introspect),
// revocation (/revoke), userinfo (/userinfo) and end_session (/end_session)
// are served, all listed in discovery. Access tokens live five minutes.
//
// Each call builds its own storage, so several providers may run in one
// process.
func StartZitadel(opts ZitadelOptions) (*Provider, error) {
	redirects := opts.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	issuer := "http://" + ln.Addr().String()

	// NewStorageWithClients keeps the clients in this storage only; the
	// package-level registry behind storage.RegisterClients is not used.
	clients := map[string]*storage.Client{
		ZitadelWebClientID: storage.WebClient(ZitadelWebClientID, ZitadelWebClientSecret, redirects...),
		ZitadelJWTClientID: storage.WebClient(ZitadelJWTClientID, ZitadelJWTClientSecret, redirects...),
	}
	st := &zitadelStorage{
		Storage: storage.NewStorageWithClients(zitadelUsers{}, clients),
		jwt:     map[string]bool{ZitadelJWTClientID: true},
		opts:    opts,
	}
	router := exampleop.SetupServer(issuer, st, nil, false)

	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	p := &Provider{
		Name: "zitadel",
		Clients: []Client{
			{ID: ZitadelWebClientID, Secret: ZitadelWebClientSecret, AuthStyle: oauth2.AuthStyleInHeader},
			{ID: ZitadelJWTClientID, Secret: ZitadelJWTClientSecret, AuthStyle: oauth2.AuthStyleInHeader, JWTAccessTokens: true},
		},
		issuer: issuer,
	}
	p.closeFn = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
	if err := waitDiscovery(context.Background(), issuer, 10*time.Second, nil); err != nil {
		p.Close()
		return nil, fmt.Errorf("testidp: zitadel: %w", err)
	}
	return p, nil
}

// zitadelStorage adapts the example storage: per-client access token type,
// post-logout redirect URIs and optional userinfo claims in ID tokens.
type zitadelStorage struct {
	*storage.Storage
	jwt  map[string]bool
	opts ZitadelOptions
}

func (s *zitadelStorage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, clientID)
	if err != nil {
		return nil, err
	}
	return &zitadelClient{Client: c, jwt: s.jwt[clientID], opts: &s.opts}, nil
}

// SetUserinfoFromRequest adds the sid of SessionIDs to the example's
// claims.
func (s *zitadelStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	if ar, ok := req.(interface{ GetID() string }); ok && s.opts.SessionIDs {
		ui.AppendClaims("sid", "sid-"+ar.GetID())
	}
	return nil
}

type zitadelClient struct {
	op.Client
	jwt  bool
	opts *ZitadelOptions
}

func (c *zitadelClient) AccessTokenType() op.AccessTokenType {
	if c.jwt {
		return op.AccessTokenTypeJWT
	}
	return op.AccessTokenTypeBearer
}

func (c *zitadelClient) PostLogoutRedirectURIs() []string { return c.opts.PostLogoutRedirectURIs }

func (c *zitadelClient) IDTokenUserinfoClaimsAssertion() bool { return c.opts.IDTokenUserinfoClaims }

// zitadelUsers is the example OP's user store with TestUser and SecondUser.
type zitadelUsers struct{}

func zitadelUser(u User, first, last string) *storage.User {
	return &storage.User{
		ID:                u.Subject,
		Username:          u.Username,
		Password:          u.Password,
		FirstName:         first,
		LastName:          last,
		Email:             u.Email,
		EmailVerified:     true,
		PreferredLanguage: language.English,
	}
}

func (zitadelUsers) all() []*storage.User {
	return []*storage.User{
		zitadelUser(TestUser, "Alice", "Example"),
		zitadelUser(SecondUser, "Bob", "Example"),
	}
}

func (u zitadelUsers) GetUserByID(id string) *storage.User {
	for _, x := range u.all() {
		if x.ID == id {
			return x
		}
	}
	return nil
}

func (u zitadelUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u.all() {
		if x.Username == name {
			return x
		}
	}
	return nil
}

func (zitadelUsers) ExampleClientID() string { return storage.ServiceUserID }
