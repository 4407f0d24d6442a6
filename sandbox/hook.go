package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	"go.uber.org/zap"
)

// HookOptions are the settings of one configured hook.
type HookOptions struct {
	// Name identifies the hook in logs, metrics and errors.
	// Default: the file's base name.
	Name string

	// Timeout bounds one run, including awaited promises and fetch calls.
	// An Invocation's own Timeout, if shorter, wins. Default: the engine's.
	Timeout time.Duration

	// Secrets are the values the hook reads as secrets.NAME. They are
	// redacted from its log lines and from the errors it causes.
	Secrets map[string]string

	// AllowedHosts, if set, are the only hosts fetch may reach: exact names
	// or "*.example.com" patterns. A listed host may also resolve to an
	// address fetch otherwise refuses (private, loopback, ...), except the
	// cloud metadata addresses. Default: any public host.
	AllowedHosts []string

	// AllowedCIDRs are address ranges fetch may reach although they are
	// refused by default, e.g. "10.1.0.0/16" for an internal CRM.
	AllowedCIDRs []string

	// Handlers are the handler names a caller may run (the event
	// catalog's). They are looked up on the exports as a run looks up its
	// handler, so one defined as non-enumerable or inherited is reported
	// by Exported and Exports too.
	Handlers []string

	// Logger receives the hook's console output. The sandbox adds the
	// hook, event and request_id fields to every line itself, so a Logger
	// that carries a hook field already, or is named after the hook,
	// would repeat it. Default: the engine's.
	Logger *zap.Logger
}

// maxStuck is how many abandoned runs of one hook may still be running
// before further runs fail at once.
const maxStuck = 2

// Hook is a compiled hook file. It is safe for concurrent use: each run
// gets a runtime of its own.
type Hook struct {
	engine   *Engine
	opts     HookOptions
	path     string
	cacheNS  string       // see cacheKey
	stuck    atomic.Int32 // abandoned runs still running
	program  *goja.Program
	exports  []string // sorted names of the exported functions
	exported []Export // everything exported, sorted by name
	redactor *strings.Replacer
	pool     pool
	modules  *require.Registry
	client   *http.Client
}

// Compile reads, compiles and loads the hook at path once, so syntax
// errors and failing top-level code surface at provision time with the
// file and line.
func (e *Engine) Compile(path string, opts HookOptions) (*Hook, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	prg, err := compileModule(abs, string(src))
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = filepath.Base(abs)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = e.opts.Timeout
	}
	if opts.Logger == nil {
		opts.Logger = e.opts.Logger
	}
	h := &Hook{
		engine:   e,
		opts:     opts,
		path:     abs,
		cacheNS:  cacheNamespace(abs),
		program:  prg,
		redactor: newRedactor(opts.Secrets),
		pool:     make(pool, e.opts.PoolSize),
	}
	h.modules = h.newRegistry()
	if h.client, err = e.newClient(opts); err != nil {
		return nil, fmt.Errorf("sandbox: hook %s: %w", opts.Name, err)
	}
	if h.exported, err = h.loadExports(); err != nil {
		return nil, err
	}
	for _, x := range h.exported {
		if x.Function {
			h.exports = append(h.exports, x.Name)
		}
	}
	return h, nil
}

// Name returns the hook's name.
func (h *Hook) Name() string { return h.opts.Name }

func cacheNamespace(abs string) string {
	sum := sha256.Sum256([]byte(abs))
	return hex.EncodeToString(sum[:16])
}

// Path returns the absolute path of the hook file.
func (h *Hook) Path() string { return h.path }

// Export is one name a hook exports.
type Export struct {
	Name string
	// Function is whether the value is a function; a handler name bound
	// to anything else is a mistake config checks can point out.
	Function bool
}

// Exported returns every name the hook exports (the own enumerable keys
// of its module.exports, however it was assigned), sorted by name.
func (h *Hook) Exported() []Export { return append([]Export(nil), h.exported...) }

// Handlers returns the names of the functions the hook exports, sorted.
func (h *Hook) Handlers() []string { return append([]string(nil), h.exports...) }

// Exports reports whether the hook exports the named function.
func (h *Hook) Exports(handler string) bool {
	i := sort.SearchStrings(h.exports, handler)
	return i < len(h.exports) && h.exports[i] == handler
}

// moduleLoadTimeout is the least time top-level code gets at Compile.
const moduleLoadTimeout = 2 * time.Second

// loadExports runs the module body once, under the hook's timeout, to learn
// what it exports. The runtime it warms goes to the pool.
func (h *Hook) loadExports() ([]Export, error) {
	rt, err := h.newRuntime()
	if err != nil {
		return nil, err
	}
	// Top-level code runs at provision, not on a request: it gets a floor
	// of time, so a slow machine does not fail a sane hook.
	ctx, cancel := context.WithTimeout(context.Background(), max(h.opts.Timeout, moduleLoadTimeout))
	defer cancel()
	c := h.newCall(ctx, rt, Invocation{Handler: "(module)"})
	names, err := c.exported()
	if c.finish() && err == nil {
		h.putRuntime(rt)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: load %s: %w", h.path, err)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name < names[j].Name })
	return names, nil
}

// exported loads the module and lists what it exports. Reading the
// exports from Go runs the hook's getters, whose throws escape as panics.
func (c *call) exported() (names []Export, err error) {
	defer func() {
		if x := recover(); x != nil {
			names, err = nil, c.recovered(x)
		}
	}()
	exports, err := c.loadModule()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	// Own properties, enumerable or not: a misspelled handler defined
	// with Object.defineProperty is still the author's mistake to show.
	for _, k := range exports.GetOwnPropertyNames() {
		_, fn := goja.AssertFunction(exports.Get(k))
		names = append(names, Export{Name: k, Function: fn})
		seen[k] = true
	}
	// A run finds its handler with Get, which also sees non-enumerable
	// properties and inherited methods (a class instance as exports):
	// the handler names the caller may ask for are looked up the same
	// way, so what Exports reports is what Run would call.
	for _, k := range c.hook.opts.Handlers {
		if seen[k] {
			continue
		}
		v := exports.Get(k)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		_, fn := goja.AssertFunction(v)
		names = append(names, Export{Name: k, Function: fn})
	}
	return names, nil
}

// Run runs one handler of the hook. See Runner.
//
// The JavaScript runs on a goroutine of its own, so Run returns at the
// deadline even when the hook is stuck in a native call that goja cannot
// interrupt; such a runtime finishes in the background and is dropped.
func (h *Hook) Run(ctx context.Context, inv Invocation) (*Result, error) {
	start := time.Now()
	timeout := h.opts.Timeout
	if inv.Timeout > 0 && inv.Timeout < timeout {
		timeout = inv.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type outcome struct {
		ops []Op
		err error
	}
	var out outcome
	if n := h.stuck.Load(); n >= maxStuck {
		// Runs stuck in native code go on using CPU and memory until they
		// end; a hook that keeps causing them must not pile them up.
		out.err = &Error{Hook: h.opts.Name, Handler: inv.Handler, Kind: ErrLimit,
			Detail: fmt.Sprintf("%d earlier runs are still stuck in a native call", n)}
	} else {
		done := make(chan outcome, 1)
		// state settles the race between the run ending and Run giving up
		// on it: exactly one side wins, and only an abandoned run that
		// later ends gives its stuck count back.
		const running, finished, abandoned = 0, 1, 2
		var state atomic.Int32
		h.engine.workers.do(func() {
			ops, err := h.run(ctx, inv)
			if !state.CompareAndSwap(running, finished) {
				h.stuck.Add(-1)
			}
			done <- outcome{ops, err}
		})
		select {
		case out = <-done:
		case <-ctx.Done():
			if state.CompareAndSwap(running, abandoned) {
				h.stuck.Add(1)
				out.err = &Error{Hook: h.opts.Name, Handler: inv.Handler, Kind: ErrTimeout, Detail: "abandoned"}
			} else {
				out = <-done
			}
		}
	}
	d := time.Since(start)
	if e, ok := out.err.(*Error); ok && e.overMemory {
		// The run is over and its runtime dropped: what it kept is garbage.
		h.engine.guard.collect()
	}
	h.engine.opts.Metrics.observe(h.opts.Name, d, out.err)
	if out.err != nil {
		// Not logged here: the caller logs it once, with the event and the
		// policy it applies (see Runner).
		return nil, out.err
	}
	return &Result{Ops: out.ops, Duration: d}, nil
}

// run does one run on a pooled runtime, on the calling goroutine.
func (h *Hook) run(ctx context.Context, inv Invocation) (ops []Op, err error) {
	rt, rerr := h.getRuntime()
	if rerr != nil {
		return nil, &Error{Hook: h.opts.Name, Handler: inv.Handler, Kind: ErrLimit, Detail: rerr.Error()}
	}
	c := h.newCall(ctx, rt, inv)
	defer func() {
		// A Go panic inside the engine or a host function must not take
		// Caddy down from a worker goroutine: the run fails, the runtime
		// (in an unknown state) is dropped.
		if x := recover(); x != nil {
			c.finish()
			ops, err = nil, c.recovered(x)
		}
	}()
	err = c.run()
	if c.finish() && (err == nil || errors.Is(err, ErrThrown)) {
		h.putRuntime(rt)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && len(c.ops) > 0 {
			e.Recorded = c.ops
		}
		return nil, err
	}
	return c.ops, nil
}

var _ Runner = (*Hook)(nil)
