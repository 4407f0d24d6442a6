package main

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// The demo client registered at the OP.
const (
	demoClientID     = "demo-app"
	demoClientSecret = "demo-app-secret"
)

// demoUser is an account of the demo OP.
type demoUser struct {
	username, password, first, last string
}

// demoUsers are the accounts of the demo OP. demo/claims.js denies bob.
var demoUsers = []demoUser{
	{"alice", "alice-password", "Alice", "Example"},
	{"bob", "bob-password", "Bob", "Example"},
}

// userStore is the OP's user store; each user's id (the sub claim) is the
// username.
type userStore struct{}

func (userStore) GetUserByID(id string) *storage.User { return lookupUser(id) }

func (userStore) GetUserByUsername(name string) *storage.User { return lookupUser(name) }

func (userStore) ExampleClientID() string { return storage.ServiceUserID }

func lookupUser(name string) *storage.User {
	for _, u := range demoUsers {
		if u.username == name {
			return &storage.User{
				ID:                u.username,
				Username:          u.username,
				Password:          u.password,
				FirstName:         u.first,
				LastName:          u.last,
				Email:             u.username + "@example.com",
				EmailVerified:     true,
				PreferredLanguage: language.English,
			}
		}
	}
	return nil
}

// opStorage is the example OP's in-memory storage, with the demo client
// issuing JWT access tokens and profile/email claims in its ID tokens, so
// the relying party can show what the hook changed in both.
type opStorage struct{ *storage.Storage }

func (s opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return demoClient{c}, nil
}

type demoClient struct{ op.Client }

func (demoClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (demoClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// newIdP returns the zitadel/oidc example OpenID Provider with the public
// issuer issuer (Caddy's origin, so its redirects after login go through
// Caddy) and the demo client, which may redirect to redirectURI. Its
// discovery names the public origin everywhere, jwks_uri included, as a
// Keycloak with KC_HOSTNAME does; idphooks fetches the keys from the
// upstream's own origin.
func newIdP(issuer, redirectURI string) http.Handler {
	clients := map[string]*storage.Client{
		demoClientID: storage.WebClient(demoClientID, demoClientSecret, redirectURI),
	}
	st := opStorage{storage.NewStorageWithClients(userStore{}, clients)}
	return exampleop.SetupServer(issuer, st, nil, false)
}

// serve runs h on ln until ctx is done, then shuts it down.
func serve(ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		<-done
	}
}
