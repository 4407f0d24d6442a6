// Package redisconn owns idphooks' connection to Redis (or Valkey), the
// shared backend of cluster mode: the client and its timeouts, the key
// prefix every instance of a cluster shares, and the failure episodes of
// the connection, logged once at their start and once at their end
// however many requests meet them. The state store (store/redisstore)
// and the delivery queue (delivery/redisqueue) both run on one Conn.
package redisconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

func init() {
	// go-redis logs dial failures itself, once per command, on stderr;
	// idphooks logs the episode instead (Conn.Failed).
	redis.SetLogger(quiet{})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Options configures Open. Only Address is needed.
type Options struct {
	// Address is host:port, a redis:// or rediss:// URL (whose user,
	// password and database the fields below override when set), or a
	// unix socket path (starting with /).
	Address string
	// Username is the ACL user; empty: the default user.
	Username string
	// Password authenticates the user.
	Password string
	// DB is the database number.
	DB int
	// TLS, when set, is used for every connection (rediss:// sets it to
	// the system roots).
	TLS *tls.Config
	// Timeout bounds each command (and a dial); a call, with its one
	// retry, costs at most twice this and 100 ms (see Bounded): a Redis
	// that hangs holds a request that long, not forever. Default 1 second.
	Timeout time.Duration
	// PoolSize bounds the open connections. Default go-redis' (10 per
	// CPU).
	PoolSize int
	// Prefix starts every key idphooks writes, so that several
	// deployments (or other applications) can share one Redis. Default
	// "idphooks:". Every instance of a cluster must use the same.
	Prefix string
	// Logger receives the episode lines.
	Logger *zap.Logger
}

// Conn is an open client. Safe for concurrent use.
type Conn struct {
	// Client is the go-redis client.
	Client *redis.Client
	// Prefix is Options.Prefix.
	Prefix string

	addr  string
	log   *zap.Logger
	now   func() time.Time
	bound time.Duration // what one call may cost: see Bounded

	mu      sync.Mutex
	failing bool
	// refusing: every failure of the episode was Redis refusing writes
	// (WriteRefused); reads that succeed meanwhile do not end it.
	refusing bool
	quiet    bool // the episode was not logged: it continues the last one
	since    time.Time
	backAt   time.Time
	errs     int
}

// settle is how long after "redis is back" a failure still belongs to
// the episode that ended. go-redis' pool, once as many dials as it has
// connections have failed, answers new connections with the last dial
// error until its own probe (once a second) gets through, so a Redis
// that is back can still fail a few commands for up to a second.
const settle = 2 * time.Second

// Open makes the client. It does not wait for Redis: a Redis down at
// start is an episode like any other (the first command that meets it
// logs it), so that Caddy's other sites start and idphooks recovers
// without a restart once Redis is back.
func Open(opts Options) (*Conn, error) {
	if opts.Address == "" {
		return nil, errors.New("redisconn: no address")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Prefix == "" {
		opts.Prefix = "idphooks:"
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	var ro *redis.Options
	switch {
	case strings.Contains(opts.Address, "://"):
		u, err := redis.ParseURL(opts.Address)
		if err != nil {
			return nil, fmt.Errorf("redisconn: address %q: %w", redactURL(opts.Address), errors.Unwrap(err))
		}
		ro = u
	case strings.HasPrefix(opts.Address, "/"):
		ro = &redis.Options{Network: "unix", Addr: opts.Address}
	default:
		if !hostPort(opts.Address) {
			return nil, fmt.Errorf("redisconn: address %q is not host:port, a redis:// or rediss:// URL, or a socket path", redactAddress(opts.Address))
		}
		ro = &redis.Options{Addr: opts.Address}
	}
	if opts.Username != "" {
		ro.Username = opts.Username
	}
	if opts.Password != "" {
		ro.Password = opts.Password
	}
	if opts.DB != 0 {
		ro.DB = opts.DB
	}
	if opts.TLS != nil {
		ro.TLSConfig = opts.TLS
	}
	if opts.PoolSize > 0 {
		ro.PoolSize = opts.PoolSize
	}
	ro.DialTimeout = opts.Timeout
	ro.ReadTimeout = opts.Timeout
	ro.WriteTimeout = opts.Timeout
	ro.PoolTimeout = opts.Timeout
	// One retry, on a new connection: after Redis restarts, the pooled
	// connections are dead and the first command on each would fail.
	ro.MaxRetries = 1
	ro.MinRetryBackoff = 10 * time.Millisecond
	ro.MaxRetryBackoff = 100 * time.Millisecond
	// One dial per attempt: go-redis' default of five, 100 ms apart,
	// would hold a request for most of a second while Redis is down.
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	// No CLIENT SETINFO: older Redis and some proxies refuse it.
	ro.DisableIdentity = true
	ro.Protocol = 2
	return &Conn{Client: redis.NewClient(ro), Prefix: opts.Prefix, addr: ro.Addr, log: opts.Logger, now: time.Now,
		bound: 2*opts.Timeout + 100*time.Millisecond}, nil
}

// ErrNoAnswer is a call Redis did not answer within the Conn's bound: it
// took the connection, and nothing came back.
var ErrNoAnswer = errors.New("redis did not answer")

// Bounded runs f with ctx limited to what one call may cost: both
// attempts' timeouts and the backoff between them. go-redis' timeouts
// bound each dial, write and read, not a call: a Redis that accepts
// connections and answers nothing (stopped, swapping, a frozen VM) held a
// transaction 4 s at a 1 s timeout, and a token request with it. A
// caller's own earlier deadline stays; the bound running out while the
// caller's ctx has not is Redis' failure (ErrNoAnswer), which Note counts
// in an episode, not a caller that gave up.
func (c *Conn) Bounded(ctx context.Context, f func(context.Context) error) error {
	return c.BoundedPlus(ctx, 0, f)
}

// BoundedPlus is Bounded for a call that may block in Redis for extra
// (WAIT's timeout).
func (c *Conn) BoundedPlus(ctx context.Context, extra time.Duration, f func(context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, c.bound+extra)
	defer cancel()
	err := f(bctx)
	if err != nil && ctx.Err() == nil && bctx.Err() != nil {
		return fmt.Errorf("%w within %s: %v", ErrNoAnswer, c.bound+extra, err)
	}
	return err
}

// Key is the prefix and parts joined by ':'.
func (c *Conn) Key(parts ...string) string {
	return c.Prefix + strings.Join(parts, ":")
}

// Unreachable reports whether err says Redis cannot serve now (down, a
// timeout, loading its data, a read-only replica, out of memory,
// refusing the credentials) rather than that a key is missing
// (redis.Nil) or nothing failed.
func Unreachable(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil)
}

// Failed records that op failed with err and starts an episode, logged
// once, unless one is under way.
func (c *Conn) Failed(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs++
	refused := WriteRefused(err)
	if c.failing {
		c.refusing = c.refusing && refused
	}
	if c.failing && c.quiet && c.now().Sub(c.since) > settle {
		// Not the tail of the last episode after all: a new one.
		c.quiet = false
		c.logDown(op, err)
		return
	}
	if c.failing {
		return
	}
	c.failing, c.since, c.refusing = true, c.now(), refused
	if c.since.Sub(c.backAt) < settle {
		c.quiet = true
		return
	}
	c.logDown(op, err)
}

func (c *Conn) logDown(op string, err error) {
	c.log.Error("redis unavailable; token responses and events answer 503 until it is back",
		zap.String("address", c.addr), zap.String("op", op), zap.Error(err))
}

// OK ends an episode, if one is under way.
func (c *Conn) OK() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.failing {
		return
	}
	if !c.quiet {
		c.log.Warn("redis is back", zap.String("address", c.addr),
			zap.Duration("after", c.now().Sub(c.since)), zap.Int("failed_commands", c.errs))
		c.backAt, c.errs = c.now(), 0
	}
	c.failing, c.quiet = false, false
}

// Failing reports whether an episode is under way.
func (c *Conn) Failing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failing
}

// Note records err's outcome: an episode starts on an Unreachable error
// and ends on success; redis.Nil counts as a success (Redis answered).
// It returns err.
func (c *Conn) Note(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.ErrClosed):
		// A caller that gave up (its own deadline: Redis' timeouts are
		// the client's, and are network errors), or a client closed
		// under an old config's last requests, says nothing of Redis:
		// it neither starts an episode nor ends one.
	case Unreachable(err):
		c.Failed(op, err)
	default:
		c.OK()
	}
	return err
}

// NoteRead is Note for a command that only reads: its success does not
// end an episode of refused writes (a replica after a failover, a full
// Redis answers reads), which would otherwise be logged again at the next
// write, once per request that reads and then writes.
func (c *Conn) NoteRead(op string, err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		c.mu.Lock()
		refusing := c.failing && c.refusing
		c.mu.Unlock()
		if refusing {
			return err
		}
	}
	return c.Note(op, err)
}

// WriteRefused reports whether err is Redis refusing a write while it
// still answers reads: READONLY (a replica), OOM (maxmemory reached),
// MISCONF (it cannot persist), NOREPLICAS (min-replicas-to-write).
func WriteRefused(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	for _, p := range []string{"READONLY", "OOM", "MISCONF", "NOREPLICAS"} {
		if strings.HasPrefix(re.Error(), p) {
			return true
		}
	}
	return false
}

// Ping checks Redis now.
func (c *Conn) Ping(ctx context.Context) error {
	return c.Note("ping", c.Bounded(ctx, func(ctx context.Context) error { return c.Client.Ping(ctx).Err() }))
}

// Close closes the client.
func (c *Conn) Close() error { return c.Client.Close() }

// hostPort reports whether s is host:port with a port number. An
// address with an '@' is not: "user:password@host" splits as host "user"
// and port "password@host", which go-redis would then dial and idphooks
// log.
func hostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil || strings.Contains(s, "@") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 1<<16
}

// redactAddress hides what stands before an '@' in an address that is not
// a URL: "user:password@host:port" without a scheme is a mistake that
// still carries a password.
func redactAddress(s string) string {
	if at := strings.LastIndex(s, "@"); at >= 0 {
		return "…@" + s[at+1:]
	}
	return s
}

// redactURL hides a URL's password.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	return s[:scheme+3] + "…@" + s[at+1:]
}
