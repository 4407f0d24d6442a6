package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idphooks/idphooks/interceptors/oidc"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/store"
)

// oidcSwaps adapts the state backend's swap table to the OIDC
// interceptor's interface, and the store's errors to its sentinels.
type oidcSwaps struct{ s *store.Swaps }

// Put files a token answer's swaps in one batch: one round trip to Redis.
func (w oidcSwaps) Put(ctx context.Context, writes ...oidc.SwapWrite) error {
	var stack [2]store.SwapPut
	puts := stack[:0]
	for _, x := range writes {
		puts = append(puts, store.SwapPut{Token: x.Token, Value: x.Value, Exp: x.Exp})
	}
	return swapErr(w.s.PutAll(ctx, puts...))
}

func (w oidcSwaps) Get(ctx context.Context, token string) ([]byte, error) {
	b, err := w.s.Get(ctx, token)
	return b, swapErr(err)
}

// swapErr maps the store's errors to the interceptor's.
func swapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return oidc.ErrSwapNotFound
	case errors.Is(err, store.ErrUnavailable):
		return fmt.Errorf("%w: %w", oidc.ErrSwapUnavailable, err)
	}
	return err
}

// samlNameIDs keeps the SAML interceptor's remembered NameIDs in the swap
// table: hashed keys, sealed values, the same expiry.
type samlNameIDs struct{ s *store.Swaps }

func (n samlNameIDs) Put(ctx context.Context, key string, value []byte, exp time.Time) error {
	return nameIDsErr(n.s.Put(ctx, key, value, exp))
}

func (n samlNameIDs) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := n.s.Get(ctx, key)
	return b, nameIDsErr(err)
}

// nameIDsErr marks a store that cannot serve for the SAML interceptor,
// which then refuses a logout it cannot complete rather than send it on
// naming a NameID the SP does not know.
func nameIDsErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w: %w", saml.ErrNameIDsUnavailable, err)
	}
	return err
}
