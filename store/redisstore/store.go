// Package redisstore is store's Store on Redis (or Valkey), for cluster
// mode: every instance opens the same Redis, so a token rewritten by one
// is swapped back by another, and the hooks' cache is shared.
//
// # Layout
//
// A Bucket is a namespace of plain string keys: the entry key in bucket
// name is conn.Key("kv", name, key), its value the bytes Set was given.
// Expiry is Redis' own (SET PX): Redis removes expired entries, so there
// is no sweep.
//
// # TTLs
//
// Redis keeps TTLs in milliseconds. A ttl is rounded up to the next
// millisecond, so that an entry lives at least as long as asked (at most
// 1 ms longer) and a ttl under a millisecond still stores a short entry
// rather than failing or living forever; a ttl of zero or less never
// expires.
//
// # Failures
//
// Every command's outcome goes through the Conn's episode log
// (redisconn.Conn.Note), so a Redis that is down is logged once, not once
// per request. An error of a Redis that cannot serve (down, a timeout,
// LOADING, READONLY, OOM, NOAUTH) wraps store.ErrUnavailable; a Redis
// that answers about the data (WRONGTYPE: another application's key
// where ours should be) is a plain error and no episode. A Bucket needs
// nothing done after an episode: the Conn redials, and the same Bucket
// works once Redis is back.
//
// A caller whose context is done gets its context's error, and that
// outcome is left out of the episode log: it says nothing about Redis.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
)

// Store hands out Buckets on one Conn.
type Store struct {
	conn *redisconn.Conn
}

// New makes a Store on conn. It does not contact Redis.
func New(conn *redisconn.Conn) *Store {
	return &Store{conn: conn}
}

// Bucket returns the store.Store kept under name. A name must be
// non-empty and hold no ':' (which would let two buckets' keys meet);
// every call of a Bucket with another name fails. Its Close does nothing:
// the Conn is its owner's to close.
func (s *Store) Bucket(name string) *Bucket {
	b := &Bucket{conn: s.conn, c: s.conn.Client, prefix: s.conn.Key("kv", name, "")}
	if name == "" || strings.Contains(name, ":") {
		b.err = fmt.Errorf("redisstore: bucket name %q is empty or holds ':'", name)
	}
	return b
}

// Bucket is a store.Store in Redis. Safe for concurrent use.
type Bucket struct {
	conn   *redisconn.Conn
	c      *redis.Client
	prefix string // conn.Key("kv", name, ""): the entry key is prefix+key
	err    error  // an invalid name
}

// Get returns the value under key, or store.ErrNotFound.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	// Bytes converts go-redis' reply string: the caller owns the copy.
	var v []byte
	err := b.conn.Bounded(ctx, func(ctx context.Context) (err error) {
		v, err = b.c.Get(ctx, b.prefix+key).Bytes()
		return err
	})
	if err := b.outcome(ctx, "kv get", err, b.conn.NoteRead); err != nil {
		return nil, err
	}
	return v, nil
}

// Set puts value under key for ttl (see TTLs in the package doc). It
// returns once Redis has it; what a crash of Redis loses is Redis'
// persistence configuration's (appendonly, appendfsync).
func (b *Bucket) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	return b.outcome(ctx, "kv set", b.conn.Bounded(ctx, func(ctx context.Context) error {
		return b.c.Set(ctx, b.prefix+key, value, expiration(ttl)).Err()
	}), b.conn.Note)
}

// Delete removes key; deleting a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	return b.outcome(ctx, "kv delete", b.conn.Bounded(ctx, func(ctx context.Context) error {
		return b.c.Del(ctx, b.prefix+key).Err()
	}), b.conn.Note)
}

// Close does nothing: the Conn stays open for the other Buckets and the
// queue.
func (b *Bucket) Close() error { return nil }

func (b *Bucket) check(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	return ctx.Err()
}

// expiration is what go-redis' Set takes for ttl: whole milliseconds,
// rounded up, or 0 for no expiry. A negative ttl must not reach go-redis
// as is: -1 is its KEEPTTL, which would keep the old entry's expiry.
func expiration(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	return ms * time.Millisecond
}

// outcome records a command's outcome in the Conn's episodes and turns
// its error into the store's: nil and redis.Nil (Redis answered) end an
// episode, redis.Nil is store.ErrNotFound, an error of a Redis that
// cannot serve starts one and wraps store.ErrUnavailable.
//
// note is how the Conn is told: Conn.Note, or Conn.NoteRead for a read.
func (b *Bucket) outcome(ctx context.Context, op string, err error, note func(string, error) error) error {
	switch {
	case err == nil:
		note(op, nil)
		return nil
	case errors.Is(err, redis.Nil):
		note(op, nil)
		return store.ErrNotFound
	case ctx.Err() != nil:
		// The caller gave up (or its deadline was shorter than the
		// Conn's timeout): not Redis' failure, nor its recovery.
		return fmt.Errorf("redisstore: %s: %w", op, ctx.Err())
	case dataError(err):
		note(op, nil)
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	note(op, err)
	return fmt.Errorf("%w: redis %s: %v", store.ErrUnavailable, op, err)
}

// dataError reports whether err is Redis refusing the data it holds
// rather than being unable to serve.
func dataError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "WRONGTYPE")
}

var _ store.Store = (*Bucket)(nil)
