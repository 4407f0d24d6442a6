package caddymodule

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/delivery/redisqueue"
	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
	"github.com/idphooks/idphooks/store/redisstore"
)

func init() {
	caddy.RegisterModule(RedisState{})
}

// redisConns pools the Redis clients (and the delivery queue on each)
// across config reloads: a reload keeps the connections and the queue's
// committers instead of dropping and dialling them again.
var redisConns = caddy.NewUsagePool()

type redisValue struct {
	conn  *redisconn.Conn
	queue *redisqueue.Queue
}

func (v redisValue) Destruct() error {
	_ = v.queue.Close()
	return v.conn.Close()
}

// RedisState keeps the state of several instances in one Redis (or
// Valkey): the swap table, the hooks' cache and the delivery queue, so
// that a token issued through one instance swaps back through any other,
// and a dead instance's deliveries are taken over. The signing keys and
// the swap table's secret stay in Caddy storage, which the instances must
// share (a storage module every instance can reach).
type RedisState struct {
	// Address is host:port, a redis:// or rediss:// URL, or a unix socket
	// path. Caddy placeholders ({env.REDIS_ADDR}) are replaced.
	Address string `json:"address,omitempty"`
	// Username is the ACL user; Password its password (placeholders are
	// replaced: keep the password out of the config with {env.…} or
	// {file.…}).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// DB is the database number.
	DB int `json:"db,omitempty"`
	// KeyPrefix starts every key; the instances of one cluster must use
	// the same, and different deployments on one Redis different ones.
	// Default "idphooks:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Timeout bounds each command and dial. Default 1s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// PoolSize bounds the open connections. Default 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`
	// TLS, when set, encrypts every connection.
	TLS *RedisTLS `json:"tls,omitempty"`
	// Replicas, when positive, makes an event wait until that many
	// replicas have it (WAIT), for at most ReplicaTimeout (default
	// 500ms), before it counts as accepted.
	Replicas       int            `json:"replicas,omitempty"`
	ReplicaTimeout caddy.Duration `json:"replica_timeout,omitempty"`
	// Lease is how long an instance holds a delivery it took before any
	// other may take it over (the instance may have died). Default: the
	// longest attempt timeout plus a minute; it must exceed them all.
	Lease caddy.Duration `json:"lease,omitempty"`
}

// RedisTLS is the TLS of the connections to Redis.
type RedisTLS struct {
	// CA is a PEM file of the certificates that may sign Redis'; empty:
	// the system's roots.
	CA string `json:"ca,omitempty"`
	// ServerName is the name Redis' certificate must carry; default the
	// address' host.
	ServerName string `json:"server_name,omitempty"`
	// ClientCertificate and ClientKey are PEM files of a certificate to
	// present (Redis' tls-auth-clients).
	ClientCertificate string `json:"client_certificate,omitempty"`
	ClientKey         string `json:"client_key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (RedisState) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "idp_hooks.state.redis",
		New: func() caddy.Module { return new(RedisState) },
	}
}

// redisRescan is how often a deliverer on the shared queue looks for work
// it was not told of: what other instances enqueued or left behind.
const redisRescan = 5 * time.Second

// OpenState connects (or shares the connection of the config before) and
// reads the swap secret from Caddy storage. Redis is not contacted: one
// that is down at start is an episode like any other, and Caddy's other
// sites start.
func (rs *RedisState) OpenState(ctx caddy.Context) (*State, error) {
	opts, poolKey, err := rs.connOptions()
	if err != nil {
		return nil, err
	}
	if rs.Replicas < 0 {
		return nil, fmt.Errorf("idp_hooks: state redis: replicas %d is negative", rs.Replicas)
	}
	secret, err := swapSecret(ctx, ctx.Storage())
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: state redis: the swap secret: %w", err)
	}
	opts.Logger = ctx.Logger().Named("state")
	v, _, err := redisConns.LoadOrNew(poolKey, func() (caddy.Destructor, error) {
		conn, err := redisconn.Open(opts)
		if err != nil {
			return nil, err
		}
		// The queue's messages carry a MAC under the swap secret: what
		// idphooks signs and sends is only what an instance enqueued.
		q, err := redisqueue.New(conn, redisqueue.Options{Replicas: rs.Replicas, ReplicaTimeout: time.Duration(rs.ReplicaTimeout), Secret: secret})
		if err != nil {
			conn.Close()
			return nil, err
		}
		return redisValue{conn, q}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: state redis: %w", err)
	}
	rv := v.(redisValue)
	kv := redisstore.New(rv.conn)
	// Agreed: an instance whose secret is not the cluster's (it does not
	// share Caddy storage) refuses the token path, and says why, rather
	// than issue tokens the others cannot swap back.
	swaps, err := store.NewSwaps(kv.Agreed(kv.Bucket("swaps"), secret, opts.Logger), store.SwapOptions{Secret: secret})
	if err != nil {
		_, _ = redisConns.Delete(poolKey)
		return nil, fmt.Errorf("idp_hooks: state redis: %w", err)
	}
	// The hooks' cache is sealed under the swap secret: a copy of Redis
	// shows nothing hooks cached, and nobody who can only write to Redis
	// can make a hook read a value of theirs.
	cache, err := store.NewSealed(kv.Bucket("cache"), secret)
	if err != nil {
		_, _ = redisConns.Delete(poolKey)
		return nil, fmt.Errorf("idp_hooks: state redis: %w", err)
	}
	return &State{
		Swaps: swaps,
		Cache: hookCache{s: cache, unsealed: &sometimes{log: opts.Logger,
			msg: "hook cache entries in redis did not open (written without this cluster's swap secret, or damaged); each is a miss"}},
		Queue:   rv.queue,
		Lease:   time.Duration(rs.Lease),
		Rescan:  redisRescan,
		Release: func() { _, _ = redisConns.Delete(poolKey) },
	}, nil
}

// connOptions resolves placeholders and the TLS files, and names the
// connection for the pool: configs that connect alike share a client.
func (rs *RedisState) connOptions() (redisconn.Options, string, error) {
	repl := caddy.NewReplacer()
	opts := redisconn.Options{
		Address:  repl.ReplaceKnown(rs.Address, ""),
		Username: repl.ReplaceKnown(rs.Username, ""),
		Password: repl.ReplaceKnown(rs.Password, ""),
		DB:       rs.DB,
		Prefix:   rs.KeyPrefix,
		Timeout:  time.Duration(rs.Timeout),
		PoolSize: rs.PoolSize,
	}
	if opts.Address == "" {
		return opts, "", fmt.Errorf("idp_hooks: state redis: no address (%q after placeholders)", rs.Address)
	}
	if rs.DB < 0 || rs.PoolSize < 0 || rs.Timeout < 0 || rs.Lease < 0 || rs.ReplicaTimeout < 0 {
		return opts, "", fmt.Errorf("idp_hooks: state redis: db, pool_size, timeout, lease and replicas' timeout cannot be negative")
	}
	var tlsFiles [][]byte
	if rs.TLS != nil {
		cfg, files, err := rs.TLS.config(repl)
		if err != nil {
			return opts, "", fmt.Errorf("idp_hooks: state redis: tls: %w", err)
		}
		opts.TLS, tlsFiles = cfg, files
	}
	// The pool key hashes what the client is made of (the password
	// too, so a new password dials anew), never holding it in clear. The
	// TLS files' contents are in it, not only their names: a certificate
	// renewed in place must reach the client at the next reload.
	id, _ := json.Marshal([]any{opts.Address, opts.Username, opts.Password, opts.DB, opts.Prefix, opts.Timeout, opts.PoolSize, rs.TLS, tlsFiles, rs.Replicas, rs.ReplicaTimeout})
	sum := sha256.Sum256(id)
	return opts, "redis:" + hex.EncodeToString(sum[:]), nil
}

// config makes the TLS config, and returns the contents of the files it
// read (for the pool key).
func (t *RedisTLS) config(repl *caddy.Replacer) (*tls.Config, [][]byte, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: repl.ReplaceKnown(t.ServerName, "")}
	var files [][]byte
	if t.CA != "" {
		pem, err := os.ReadFile(repl.ReplaceKnown(t.CA, ""))
		if err != nil {
			return nil, nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("ca %s: no PEM certificate in it", t.CA)
		}
		files = append(files, pem)
	}
	if (t.ClientCertificate == "") != (t.ClientKey == "") {
		return nil, nil, fmt.Errorf("client_certificate needs both a certificate and a key file")
	}
	if t.ClientCertificate != "" {
		certPEM, err := os.ReadFile(repl.ReplaceKnown(t.ClientCertificate, ""))
		if err != nil {
			return nil, nil, fmt.Errorf("client_certificate: %w", err)
		}
		keyPEM, err := os.ReadFile(repl.ReplaceKnown(t.ClientKey, ""))
		if err != nil {
			return nil, nil, fmt.Errorf("client_certificate: %w", err)
		}
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("client_certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{c}
		files = append(files, certPEM, keyPEM)
	}
	return cfg, files, nil
}

// UnmarshalCaddyfile sets up the backend from Caddyfile tokens. Syntax:
//
//	state redis [<address>] {
//		address    <host:port|redis://…|rediss://…|/socket>
//		username   <ACL user>
//		password   <password>
//		db         <n>
//		key_prefix <prefix>
//		timeout    <duration>
//		pool_size  <n>
//		tls {
//			ca                 <PEM file>
//			server_name        <name>
//			client_certificate <cert file> <key file>
//		}
//		replicas   <n> [<timeout>]
//		lease      <duration>
//	}
func (rs *RedisState) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend's name
	if d.NextArg() {
		rs.Address = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "address":
			err = oneArg(d, &rs.Address)
		case "username":
			err = oneArg(d, &rs.Username)
		case "password":
			err = oneArg(d, &rs.Password)
		case "key_prefix":
			err = oneArg(d, &rs.KeyPrefix)
		case "db":
			rs.DB, err = intArg(d, 0)
		case "pool_size":
			rs.PoolSize, err = intArg(d, 1)
		case "timeout":
			rs.Timeout, err = durationArg(d)
		case "lease":
			rs.Lease, err = durationArg(d)
		case "replicas":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, perr := strconv.Atoi(d.Val())
			if perr != nil || n < 0 {
				return d.Errf("replicas: %q is not a number of replicas", d.Val())
			}
			rs.Replicas = n
			if d.NextArg() {
				dur, perr := caddy.ParseDuration(d.Val())
				if perr != nil || dur <= 0 {
					return d.Errf("replicas: %q is not a timeout", d.Val())
				}
				rs.ReplicaTimeout = caddy.Duration(dur)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "tls":
			if d.NextArg() {
				return d.ArgErr()
			}
			rs.TLS = new(RedisTLS)
			err = rs.TLS.unmarshal(d)
		default:
			return d.Errf("state redis: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	if rs.Address == "" {
		return d.Err("state redis: no address")
	}
	return nil
}

func (t *RedisTLS) unmarshal(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "ca":
			err = oneArg(d, &t.CA)
		case "server_name":
			err = oneArg(d, &t.ServerName)
		case "client_certificate":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Err("client_certificate: <certificate file> <key file>")
			}
			t.ClientCertificate, t.ClientKey = args[0], args[1]
		default:
			return d.Errf("state redis: tls: unknown option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// intArg reads one whole number of at least min.
func intArg(d *caddyfile.Dispenser, min int) (int, error) {
	var v string
	if err := oneArg(d, &v); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		return 0, d.Errf("%q is not a whole number of at least %d", v, min)
	}
	return n, nil
}

// Interface guards
var (
	_ StateBackend          = (*RedisState)(nil)
	_ caddyfile.Unmarshaler = (*RedisState)(nil)
)
