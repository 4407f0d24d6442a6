package caddymodule

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/redistest"
	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
	"github.com/idphooks/idphooks/store/redisstore"
)

// redisServer is a redis-server for this package's Redis tests, started
// by the first test that needs one and stopped by TestMain.
var redisServer = sync.OnceValues(func() (*redistest.Server, error) {
	return redistest.Start(redistest.Options{})
})

func TestMain(m *testing.M) {
	code := m.Run()
	if s, err := redisServer(); err == nil && s != nil {
		s.Close()
	}
	os.Exit(code)
}

func redisAddr(t *testing.T) string {
	t.Helper()
	s, err := redisServer()
	if redistest.Skip(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.Addr
}

// Two instances on one Redis and one Caddy storage share the swap table
// (keyed with the storage's secret), the hooks' cache and the queue; a
// config reload keeps the connection; the last release closes it.
func TestRedisStateIsShared(t *testing.T) {
	t.Setenv("IDPHOOKS_TEST_REDIS", redisAddr(t))
	ctx, _ := provisionContext(t)
	prefix := fmt.Sprintf("caddymodule-%d:", time.Now().UnixNano())
	a := &RedisState{Address: "{env.IDPHOOKS_TEST_REDIS}", KeyPrefix: prefix}
	sa, err := a.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := &RedisState{Address: "{env.IDPHOOKS_TEST_REDIS}", KeyPrefix: prefix}
	sb, err := b.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Queue == nil || sa.Queue != sb.Queue {
		t.Fatal("configs that connect alike do not share the pooled queue")
	}
	if sa.Rescan <= 0 {
		t.Error("no rescan for a shared queue")
	}
	c := context.Background()
	if err := sa.Swaps.Put(c, "our-token", []byte("upstream"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, err := sb.Swaps.Get(c, "our-token"); err != nil || string(got) != "upstream" {
		t.Fatalf("the other instance reads %q, %v", got, err)
	}
	if err := sa.Cache.Set(c, "logins", []byte("3"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := sb.Cache.Get(c, "logins"); !ok || err != nil || !bytes.Equal(got, []byte("3")) {
		t.Fatalf("cache: %q %v %v", got, ok, err)
	}
	// Without the secret, the token alone finds nothing in Redis.
	unkeyed, err := store.NewSwaps(store.Store(redisBucketFor(t, prefix)), store.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unkeyed.Get(c, "our-token"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unkeyed lookup found the entry: %v", err)
	}
	sa.Release()
	if _, err := sb.Swaps.Get(c, "our-token"); err != nil {
		t.Fatalf("released by one config, the other's connection broke: %v", err)
	}
	sb.Release()
	if _, err := sb.Swaps.Get(c, "our-token"); err == nil {
		t.Fatal("the connection is still open after the last release")
	}
}

// A Redis that is not there at start does not stop the config: it is an
// episode, and the swap table answers ErrUnavailable meanwhile.
func TestRedisStateStartsWithRedisDown(t *testing.T) {
	ctx, _ := provisionContext(t)
	rs := &RedisState{Address: "127.0.0.1:1", Timeout: caddy.Duration(200 * time.Millisecond)}
	s, err := rs.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Release()
	err = s.Swaps.Put(context.Background(), "t", []byte("v"), time.Now().Add(time.Minute))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Put with Redis down: %v", err)
	}
	// The SAML interceptor is told the store is away, not that it holds
	// no NameID: it refuses the logout rather than name the IdP's.
	if _, err := (samlNameIDs{s.Swaps}).Get(context.Background(), "k"); !errors.Is(err, saml.ErrNameIDsUnavailable) {
		t.Fatalf("NameIDs Get with Redis down: %v", err)
	}
}

// Bad settings fail the config with a message that names them.
func TestRedisStateRefusesBadSettings(t *testing.T) {
	ctx, _ := provisionContext(t)
	for _, tc := range []struct {
		rs   RedisState
		want string
	}{
		{RedisState{Address: "{env.IDPHOOKS_TEST_UNSET}"}, "no address"},
		{RedisState{Address: "redis.internal"}, "not host:port"},
		// A password in an address without a scheme is not shown.
		{RedisState{Address: "idphooks:hunter2@redis.internal"}, `"…@redis.internal" is not host:port`},
		{RedisState{Address: "127.0.0.1:6379", TLS: &RedisTLS{CA: "/nonexistent.pem"}}, "nonexistent.pem"},
		{RedisState{Address: "127.0.0.1:6379", TLS: &RedisTLS{ClientCertificate: "c.pem"}}, "client_certificate"},
		{RedisState{Address: "127.0.0.1:6379", Replicas: -1}, "replicas"},
	} {
		_, err := tc.rs.OpenState(ctx)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.rs, err, tc.want)
		}
	}
}

// redisBucketFor is the swap bucket under prefix, on a connection of its own.
func redisBucketFor(t *testing.T, prefix string) *redisstore.Bucket {
	t.Helper()
	conn, err := redisconn.Open(redisconn.Options{Address: redisAddr(t), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return redisstore.New(conn).Bucket("swaps")
}

// The Caddyfile's TLS and ACL settings reach Redis: a TLS-only server
// with an ACL user (the default user off) serves the swap table, and a
// wrong password is an unavailable store whose log line never shows the
// password.
func TestRedisStateTLSAndACLUser(t *testing.T) {
	redisAddr(t) // skips without redis-server
	srv, err := redistest.Start(redistest.Options{TLS: true, User: "idphooks", UserPassword: "s3cret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, _ := provisionContext(t)
	t.Setenv("IDPHOOKS_TEST_REDIS_PASSWORD", "s3cret-pw")
	rs := &RedisState{
		Address: srv.Addr, Username: "idphooks", Password: "{env.IDPHOOKS_TEST_REDIS_PASSWORD}",
		TLS: &RedisTLS{CA: srv.CAFile, ServerName: "127.0.0.1"},
	}
	st, err := rs.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	c := context.Background()
	if err := st.Swaps.Put(c, "tok", []byte("up"), time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Put over TLS as an ACL user: %v", err)
	}
	if got, err := st.Swaps.Get(c, "tok"); err != nil || string(got) != "up" {
		t.Fatalf("Get: %q %v", got, err)
	}

	core, logs := observer.New(zap.DebugLevel)
	conn, err := redisconn.Open(redisconn.Options{Address: srv.Addr, Username: "idphooks", Password: "wrong-pw", Logger: zap.New(core),
		TLS: mustTLS(t, rs.TLS)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := redisstore.New(conn).Bucket("swaps").Set(c, "k", []byte("v"), time.Minute); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a wrong password: %v", err)
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, "wrong-pw") || strings.Contains(line, "s3cret-pw") {
			t.Fatalf("a password in the log: %s", line)
		}
	}
	// Plain TCP to a TLS-only Redis fails too (no silent downgrade).
	plain := &RedisState{Address: srv.Addr, Username: "idphooks", Password: "s3cret-pw", KeyPrefix: "plain:", Timeout: caddy.Duration(300 * time.Millisecond)}
	ps, err := plain.OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Release()
	if err := ps.Swaps.Put(c, "tok", []byte("up"), time.Now().Add(time.Minute)); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("plain TCP to a TLS-only Redis: %v", err)
	}
}

func mustTLS(t *testing.T, c *RedisTLS) *tls.Config {
	t.Helper()
	cfg, _, err := c.config(caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A config reload after a TLS file was renewed in place gets a client
// made with the new file: the pool key holds the files' contents, not
// only their names (an old client kept for the same names would present
// the old certificate until Caddy restarts).
func TestRedisPoolKeyFollowsTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	write := func(cn string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rs := &RedisState{Address: "127.0.0.1:6379", TLS: &RedisTLS{CA: ca}}
	write("first")
	_, k1, err := rs.connOptions()
	if err != nil {
		t.Fatal(err)
	}
	_, again, _ := rs.connOptions()
	write("renewed")
	_, k2, err := rs.connOptions()
	if err != nil {
		t.Fatal(err)
	}
	if k1 != again {
		t.Error("the same files give two pool keys")
	}
	if k1 == k2 {
		t.Error("a renewed CA file keeps the old client")
	}
}

// The hooks' cache on Redis is sealed under the swap secret: Redis holds
// neither the key a hook cached under nor the value, and a value written
// into Redis by a hand without the secret is a miss, never what the hook
// reads.
func TestRedisCacheIsSealed(t *testing.T) {
	addr := redisAddr(t)
	ctx, _ := provisionContext(t)
	prefix := fmt.Sprintf("sealed-%d:", time.Now().UnixNano())
	st, err := (&RedisState{Address: addr, KeyPrefix: prefix}).OpenState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	c := context.Background()
	if err := st.Cache.Set(c, "alice@example.com", []byte(`{"tier":"gold-4711"}`), time.Minute); err != nil {
		t.Fatal(err)
	}
	conn, err := redisconn.Open(redisconn.Options{Address: addr, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	keys, err := conn.Client.Keys(c, prefix+"kv:cache:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("cache keys in redis: %v %v", keys, err)
	}
	raw, _ := conn.Client.Get(c, keys[0]).Bytes()
	if strings.Contains(keys[0], "alice") || bytes.Contains(raw, []byte("gold")) {
		t.Fatalf("redis shows what the hook cached: %q = %q", keys[0], raw)
	}
	if got, ok, err := st.Cache.Get(c, "alice@example.com"); !ok || err != nil || string(got) != `{"tier":"gold-4711"}` {
		t.Fatalf("Get = %q %v %v", got, ok, err)
	}
	// A hand in Redis writes the value it wants the hook to read.
	if err := conn.Client.Set(c, keys[0], `{"tier":"platinum"}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := st.Cache.Get(c, "alice@example.com"); ok || err != nil {
		t.Fatalf("a forged entry: %q %v %v, want a miss", got, ok, err)
	}
}
