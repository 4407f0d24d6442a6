package secevent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/idphooks/idphooks/keys"
)

// A transmitter for the tests: idphooks' real key manager, its public
// set served at a loopback JWKS URL as idphooks publishes it.
type transmitter struct {
	keys    *keys.Manager
	jwksURL string
}

func newTransmitter(t *testing.T, alg string) *transmitter {
	t.Helper()
	km, err := keys.New(context.Background(), keys.NewMemoryStorage(), keys.Config{Algorithm: alg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(km.PublicJWKS())
	}))
	t.Cleanup(srv.Close)
	return &transmitter{keys: km, jwksURL: srv.URL}
}
