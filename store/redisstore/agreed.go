package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/idphooks/idphooks/store"
)

// ErrSecretDiffers is wrapped (with store.ErrUnavailable) by every call
// of an Agreed bucket whose secret is not the one the other instances on
// this Redis hold.
var ErrSecretDiffers = errors.New("this instance's swap secret differs from the one the other instances on this redis hold: they do not share Caddy storage")

// checkLabel keys the check value: it shows nothing of the secret.
const checkLabel = "idphooks swap secret check v1"

// Agreed is the bucket b, checked at its first use against what the
// other instances on this Redis hold: the first instance leaves an HMAC
// of its secret under "secret-check", and an instance whose secret
// differs refuses every call (ErrSecretDiffers, logged once). Instances
// that do not share Caddy storage each make a secret of their own, and
// without the check a token one issued would silently not swap back on
// another (the IdP refuses the token of ours, the client drops a grant
// that is good); with it, the misconfigured instance answers 503 and the
// log says why. The check costs one round trip, once.
func (s *Store) Agreed(b *Bucket, secret []byte, log *zap.Logger) store.Store {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(checkLabel))
	if log == nil {
		log = zap.NewNop()
	}
	return &agreed{Bucket: b, key: s.conn.Key("secret-check"), want: hex.EncodeToString(mac.Sum(nil)), log: log}
}

type agreed struct {
	*Bucket
	key, want string
	log       *zap.Logger

	// verdict is set once Redis has answered the check: it points at nil
	// (the secrets agree) or at the error every call then returns.
	verdict atomic.Pointer[error]
	flight  singleflight.Group
}

// check is the verdict, checking first when there is none. Calls that
// come while a check is under way wait for that one: a Redis that does
// not answer holds each of them at most the Conn's bound, not one bound
// per caller in turn.
func (a *agreed) check(ctx context.Context) error {
	if v := a.verdict.Load(); v != nil {
		return *v
	}
	// Not the first caller's context: one caller giving up must not fail
	// the others' check. The Conn's bound limits it.
	ch := a.flight.DoChan("check", func() (any, error) { return nil, a.runCheck(context.WithoutCancel(ctx)) })
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *agreed) runCheck(ctx context.Context) error {
	if v := a.verdict.Load(); v != nil {
		return *v
	}
	var got string
	err := a.conn.Bounded(ctx, func(ctx context.Context) error {
		p := a.c.TxPipeline()
		p.SetNX(ctx, a.key, a.want, 0)
		get := p.Get(ctx, a.key)
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
		got = get.Val()
		return nil
	})
	if err := a.outcome(ctx, "secret check", err, a.conn.Note); err != nil {
		return err // no verdict yet: the next call checks again
	}
	var differs error
	if got != a.want {
		differs = fmt.Errorf("%w: %w (README: Cluster mode)", store.ErrUnavailable, ErrSecretDiffers)
		a.log.Error("swap secret differs from the cluster's; token responses answer 503 on this instance until it shares Caddy storage with the others",
			zap.String("check_key", a.key))
	}
	a.verdict.Store(&differs)
	return differs
}

func (a *agreed) Get(ctx context.Context, key string) ([]byte, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return a.Bucket.Get(ctx, key)
}

func (a *agreed) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.Bucket.Set(ctx, key, value, ttl)
}

func (a *agreed) SetMany(ctx context.Context, entries []store.Entry) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.Bucket.SetMany(ctx, entries)
}

func (a *agreed) Delete(ctx context.Context, key string) error {
	if err := a.check(ctx); err != nil {
		return err
	}
	return a.Bucket.Delete(ctx, key)
}

var _ store.Batcher = (*agreed)(nil)
