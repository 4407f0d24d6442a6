package events

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/sandbox"
)

// HookConfig is one hook's settings, named as the Caddyfile names them.
// The Caddy module and the hook workbench (the CLI) both build hooks from
// it with Build, so a hook passes or fails the same checks in both.
type HookConfig struct {
	Path         string
	Mode         string
	Timeout      time.Duration
	OnError      string
	Applications []string
	// AllowHosts are host names, *.suffix patterns and CIDRs.
	AllowHosts []string
	// Secrets are the resolved values (placeholders already replaced).
	Secrets map[string]string
	// Logger receives the hook's console lines; the sandbox adds the hook
	// field itself.
	Logger *zap.Logger
}

// Validate checks the settings that need no file.
func (c HookConfig) Validate() error {
	switch c.Mode {
	case "", string(Sync), string(Async):
	default:
		return fmt.Errorf("hook %s: mode must be sync or async, not %q", c.Path, c.Mode)
	}
	switch c.OnError {
	case "", string(Deny), string(Continue):
	default:
		return fmt.Errorf("hook %s: on_error must be deny or continue, not %q", c.Path, c.OnError)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("hook %s: negative timeout", c.Path)
	}
	return nil
}

// Build compiles the hook and checks what it exports: a handler name that
// matches no event, a handler that is not a function and a file with no
// handler at all are errors, since each leaves the hook silently off.
func Build(engine *sandbox.Engine, c HookConfig) (*Hook, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var hosts, cidrs []string
	for _, a := range c.AllowHosts {
		if _, _, err := net.ParseCIDR(a); err == nil {
			cidrs = append(cidrs, a)
		} else {
			hosts = append(hosts, a)
		}
	}
	name := filepath.Base(c.Path)
	compiled, err := engine.Compile(c.Path, sandbox.HookOptions{
		Name:         name,
		Timeout:      c.Timeout,
		Secrets:      c.Secrets,
		AllowedHosts: hosts,
		AllowedCIDRs: cidrs,
		Handlers:     handlerList(),
		Logger:       c.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("hook %s: %w", c.Path, err)
	}
	if err := CheckExports(compiled.Exported()); err != nil {
		return nil, fmt.Errorf("hook %s: %w", c.Path, err)
	}
	return &Hook{
		Name:         name,
		Runner:       compiled,
		Mode:         Mode(c.Mode),
		Timeout:      c.Timeout,
		OnError:      Policy(c.OnError),
		Applications: c.Applications,
	}, nil
}

// Events returns the catalog events the hook handles, sorted.
func (h *Hook) Events() []string {
	var out []string
	for _, id := range IDs() {
		if h.Runner.Exports(HandlerName(id)) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Unraised returns the events h handles that none of raised is: handlers
// that can never run with this configuration.
func (h *Hook) Unraised(raised []string) []string {
	var out []string
	for _, id := range h.Events() {
		found := false
		for _, r := range raised {
			if r == id {
				found = true
				break
			}
		}
		if !found {
			out = append(out, id)
		}
	}
	return out
}

// handlerList is every handler name of the catalog.
func handlerList() []string {
	out := make([]string, 0, len(handlerNames))
	for _, h := range handlerNames {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}
