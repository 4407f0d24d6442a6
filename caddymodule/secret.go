package caddymodule

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/caddyserver/certmagic"
)

// swapSecretKey is where the swap table's server secret lives in Caddy
// storage: beside the signing keys, so that the instances that share the
// keys (a shared storage module) share it too.
const swapSecretKey = "idphooks/swap-secret"

// swapSecretSize is the secret's length in bytes: an HMAC-SHA256 key.
const swapSecretSize = 32

// swapSecret returns the cluster's swap secret, creating it on first use.
// Keyed with it, the swap table's lookup and sealing keys cannot be
// derived from a token alone: a copy of the table (a Redis dump, a stolen
// state file) opens nothing and finds nothing without Caddy storage too.
// Created under the storage's lock and read again once locked, so that
// instances starting together agree on one.
func swapSecret(ctx context.Context, s certmagic.Storage) ([]byte, error) {
	if b, err := loadSwapSecret(ctx, s); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if err := s.Lock(ctx, swapSecretKey); err != nil {
		return nil, fmt.Errorf("locking %s: %w", swapSecretKey, err)
	}
	defer func() { _ = s.Unlock(context.WithoutCancel(ctx), swapSecretKey) }()
	b, err := loadSwapSecret(ctx, s)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	b = make([]byte, swapSecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := s.Store(ctx, swapSecretKey, []byte(base64.StdEncoding.EncodeToString(b)+"\n")); err != nil {
		return nil, fmt.Errorf("storing %s: %w", swapSecretKey, err)
	}
	return b, nil
}

// loadSwapSecret reads the stored secret. A damaged one is an error, not a
// new secret: a new one would make every swap entry unreadable, on this
// instance only.
func loadSwapSecret(ctx context.Context, s certmagic.Storage) ([]byte, error) {
	raw, err := s.Load(ctx, swapSecretKey)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(b) < swapSecretSize {
		return nil, fmt.Errorf("%s in Caddy storage is damaged (not %d bytes of base64); restore it from a backup or another instance, or delete it to start a new one (every issued token then needs a new login)", swapSecretKey, swapSecretSize)
	}
	return b, nil
}
