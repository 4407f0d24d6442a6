package caddymodule

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/sandbox"
	"github.com/idphooks/idphooks/store"
)

func init() {
	caddy.RegisterModule(BoltState{})
}

// StateBackend is a module in the idp_hooks.state namespace: where
// idphooks keeps the state that must outlive a request — the token swap
// table and the hooks' cache. The embedded one (bolt) is the default;
// a shared one lets several instances serve the same clients.
type StateBackend interface {
	OpenState(ctx caddy.Context) (*State, error)
}

// State is an opened state backend.
type State struct {
	Swaps *store.Swaps
	Cache sandbox.Cache
	// Queue, when set, is the backend's delivery queue, shared by the
	// instances of a cluster; nil: the embedded queue file (queue_path).
	Queue Queue
	// Lease and Rescan, when set, replace the deliverer's defaults
	// (delivery.Options): a shared queue is looked at more often, for
	// work other instances left.
	Lease, Rescan time.Duration
	// Release gives back what OpenState took (a pooled handle).
	Release func()
}

// Queue is a delivery queue and its admin view.
type Queue interface {
	delivery.Queue
	delivery.Inspector
}

// BoltState keeps idphooks' state in an embedded bbolt file: one machine,
// or instances that share the file's disk (one at a time: bbolt locks it).
type BoltState struct {
	// Path is the database file. Default: idphooks/state.db in Caddy's
	// data directory.
	Path string `json:"path,omitempty"`

	// MaxEntries caps each table (swaps, cache); the oldest entries go
	// first when it is reached. Default store.DefaultMaxEntries
	// (1,000,000); -1: no cap.
	MaxEntries int `json:"max_entries,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (BoltState) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "idp_hooks.state.bolt",
		New: func() caddy.Module { return new(BoltState) },
	}
}

// OpenState opens (or shares, across a config reload) the file.
func (b *BoltState) OpenState(ctx caddy.Context) (*State, error) {
	path := b.Path
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "idphooks", "state.db")
	}
	if b.MaxEntries < -1 {
		return nil, fmt.Errorf("idp_hooks: state: max_entries %d (use a positive number, or -1 for no cap)", b.MaxEntries)
	}
	secret, err := swapSecret(ctx, ctx.Storage())
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: state: the swap secret: %w", err)
	}
	swaps, cache, key, err := openStateStore(path, b.MaxEntries, secret, ctx.Logger().Named("state"), ctx.GetMetricsRegistry())
	if err != nil {
		return nil, err
	}
	return &State{Swaps: swaps, Cache: cache, Release: func() { _, _ = states.Delete(key) }}, nil
}

// UnmarshalCaddyfile sets up the backend from Caddyfile tokens. Syntax:
//
//	state bolt [<path>] {
//		path        <file>
//		max_entries <n>|off
//	}
//
// The short forms `state <path>` and `state <path> { max_entries … }`
// are the same backend.
func (b *BoltState) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend's name
	if d.NextArg() {
		b.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return b.unmarshalBlock(d)
}

func (b *BoltState) unmarshalBlock(d *caddyfile.Dispenser) error {
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "path":
			if err := oneArg(d, &b.Path); err != nil {
				return err
			}
		case "max_entries":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			if v == "off" {
				b.MaxEntries = -1
				continue
			}
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil || n <= 0 {
				return d.Errf("max_entries: %q is not a positive number or off", v)
			}
			b.MaxEntries = n
		default:
			return d.Errf("state: unknown option %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ StateBackend          = (*BoltState)(nil)
	_ caddyfile.Unmarshaler = (*BoltState)(nil)
)
