package sandbox

import (
	goruntime "runtime"
	"time"

	"github.com/dlclark/regexp2/v2"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/egress"
)

// Defaults of Options.
const (
	DefaultTimeout          = time.Second
	DefaultMaxCallStackSize = 512
	DefaultMaxMemory        = 128 << 20
	DefaultMaxResponseBytes = 1 << 20
)

// Options configure an Engine: what all hooks it compiles share.
type Options struct {
	// Timeout bounds a run whose hook and invocation set none.
	// Default: 1s.
	Timeout time.Duration

	// MaxCallStackSize bounds JavaScript call depth, so runaway recursion
	// fails fast instead of growing the Go heap. Default: 512.
	MaxCallStackSize int

	// MaxMemory is how much a run may make the heap keep before it is
	// stopped. goja has no per-runtime memory accounting, so the guard
	// reads the growth of the process's live heap (what the garbage
	// collector found reachable) during the run, beyond what the
	// collector's own pacing explains: neither the live heap the process
	// held before the run nor its garbage ever counts (see memoryGuard).
	// Negative disables it. Default: 128 MiB.
	MaxMemory int64

	// MaxResponseBytes caps a fetch response body. Default: 1 MiB.
	MaxResponseBytes int64

	// PoolSize is how many idle runtimes each hook keeps. Runs waiting on
	// fetch hold their runtime, so a busy server needs more runtimes than
	// CPUs; a runtime that finds no idle one costs milliseconds to build
	// (its globals are frozen). Default: 8 per CPU, at least 16.
	PoolSize int

	// Cache backs the cache global. Entries are namespaced per hook.
	// Default: an in-memory cache of 10000 entries.
	Cache Cache

	// Resolver resolves fetch host names before the egress check.
	// Default: net.DefaultResolver.
	Resolver egress.Resolver

	// Metrics, if set, counts runs per hook.
	Metrics *Metrics

	// Logger receives the console output of hooks compiled without a
	// Logger of their own. Failed runs are not logged: see Runner.
	// Default: a no-op logger.
	Logger *zap.Logger
}

func init() {
	// goja hands regular expressions Go's regexp cannot run (backreferences,
	// lookaround) to regexp2, whose backtracking is native code an
	// interrupt cannot stop: bound every match instead. A timed-out match
	// is no match.
	regexp2.DefaultMatchTimeout = regexpTimeout
}

// regexpTimeout bounds one regular expression match in a hook.
const regexpTimeout = time.Second

// Engine compiles hooks. It is safe for concurrent use.
type Engine struct {
	opts    Options
	guard   *memoryGuard
	workers *workers
}

// New returns an Engine with the zero fields of opts set to their defaults.
func New(opts Options) (*Engine, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxCallStackSize <= 0 {
		opts.MaxCallStackSize = DefaultMaxCallStackSize
	}
	if opts.MaxMemory == 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = max(16, 8*goruntime.GOMAXPROCS(0))
	}
	if opts.Cache == nil {
		opts.Cache = NewMemoryCache(10000)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Engine{opts: opts, guard: newMemoryGuard(opts.MaxMemory), workers: newWorkers()}, nil
}
