package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
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
// the relying party can show what the hook added to both.
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
// Caddy) and the demo client, which may redirect to redirectURI.
//
// direct is the address the OP itself listens on. Requests that reach it
// directly rather than through Caddy (idphooks fetching the IdP's discovery
// and keys) get a discovery document whose jwks_uri names that address: a
// "backchannel" URL, as Keycloak gives with hostname-backchannel-dynamic.
// Without it idphooks would fetch the IdP's keys from the jwks_uri on the
// public origin, that is from itself: its own JWKS handler, which merges
// in the upstream keys it is still fetching, so the token request waits
// for the upstream client's timeout (10s) and fails with a 502.
func newIdP(issuer, redirectURI, direct string) http.Handler {
	clients := map[string]*storage.Client{
		demoClientID: storage.WebClient(demoClientID, demoClientSecret, redirectURI),
	}
	st := opStorage{storage.NewStorageWithClients(userStore{}, clients)}
	router := exampleop.SetupServer(issuer, st, nil, false)
	return backchannelDiscovery(router, issuer, "http://"+direct)
}

// backchannelDiscovery rewrites jwks_uri in discovery documents requested
// at the OP's own address (Host header direct) from the public origin to
// the OP's own.
func backchannelDiscovery(next http.Handler, issuer, direct string) http.Handler {
	host := strings.TrimPrefix(direct, "http://")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != host || r.URL.Path != "/.well-known/openid-configuration" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			body = bytes.Replace(body,
				[]byte(`"jwks_uri":"`+issuer+`/`),
				[]byte(`"jwks_uri":"`+direct+`/`), 1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
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
