package sandbox

import (
	"time"

	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultTimeout          = time.Second
	DefaultMaxCallStackSize = 512
)

// Options configure an Engine: what all hooks it compiles share.
type Options struct {
	// Timeout bounds a run whose hook and invocation set none.
	// Default: 1s.
	Timeout time.Duration

	// MaxCallStackSize bounds JavaScript call depth, so runaway recursion
	// fails fast instead of growing the Go heap. Default: 512.
	MaxCallStackSize int

	// Logger receives hook console output and sandbox diagnostics.
	// Default: a no-op logger.
	Logger *zap.Logger
}

// Engine compiles hooks. It is safe for concurrent use.
type Engine struct {
	opts Options
}

// New returns an Engine with the zero fields of opts set to their defaults.
func New(opts Options) (*Engine, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxCallStackSize <= 0 {
		opts.MaxCallStackSize = DefaultMaxCallStackSize
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Engine{opts: opts}, nil
}
