package caddymodule

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/recording"
)

// RecordConfig keeps a bounded, rotating sample of real events, for
// `caddy idp-hooks replay`.
type RecordConfig struct {
	// Path of the JSON Lines file. Default: idphooks/events.jsonl in
	// Caddy's data directory.
	Path string `json:"path,omitempty"`
	// Sample is the fraction of events recorded. Default: 1 (all).
	Sample float64 `json:"sample,omitempty"`
	// MaxSize rotates the file at this many bytes (rounded up to MiB).
	// Default: 10 MiB.
	MaxSize int64 `json:"max_size,omitempty"`
	// Keep is how many rotated files are kept. Default: 2.
	Keep int `json:"keep,omitempty"`
	// Events limits recording to these event ids. Default: all.
	Events []string `json:"events,omitempty"`
}

func (rc *RecordConfig) path() string {
	if rc.Path != "" {
		return rc.Path
	}
	return filepath.Join(caddy.AppDataDir(), "idphooks", "events.jsonl")
}

// records pools recorders by file: across a reload the new config shares
// the old one's writer instead of two rotating one file.
var records = caddy.NewUsagePool()

type recorderValue struct{ *recording.Recorder }

func (r recorderValue) Destruct() error { return r.Recorder.Close() }

// openRecorder opens (or shares) the recorder of rc, recording the
// settings of the handler's hooks beside each event.
func (h *Handler) openRecorder(ctx caddy.Context) (*recording.Recorder, error) {
	rc := h.Record
	cfg := recording.Config{Path: rc.path(), Sample: rc.Sample, Keep: rc.Keep, Events: rc.Events,
		UnlockClaims: h.UnlockClaims}
	if rc.MaxSize > 0 {
		cfg.MaxSizeMB = int(math.Ceil(float64(rc.MaxSize) / (1 << 20)))
	}
	for _, hc := range h.Hooks {
		rh := recording.Hook{Hook: filepath.Base(hc.Path), Mode: hc.Mode, OnError: hc.OnError,
			Applications: hc.Applications, AllowHosts: hc.AllowHosts}
		if hc.Timeout > 0 {
			rh.Timeout = time.Duration(hc.Timeout).String()
		}
		cfg.Hooks = append(cfg.Hooks, rh)
	}
	// One recorder per file: two would rotate it under each other. A
	// reload shares it and brings its own hook settings; the sampling
	// and rotation of the config that opened it stay until the file is
	// closed (a path of its own gives new ones at once).
	key := "record:" + cfg.Path
	v, loaded, err := records.LoadOrNew(key, func() (caddy.Destructor, error) {
		r, err := recording.Open(cfg, ctx.Logger().Named("record"))
		if err != nil {
			return nil, err
		}
		return recorderValue{r}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("idp_hooks: record: %w", err)
	}
	h.recordKey = key
	r := v.(recorderValue).Recorder
	if loaded {
		r.SetSettings(cfg.UnlockClaims, cfg.Hooks)
	}
	return r, nil
}

// parseRecord reads
//
//	record [<path>] {
//		sample   <fraction>
//		max_size <size>
//		keep     <n>
//		events   <event...>
//	}
func (h *Handler) parseRecord(d *caddyfile.Dispenser) error {
	if h.Record != nil {
		return d.Err("record given twice")
	}
	rc := &RecordConfig{}
	if d.NextArg() {
		rc.Path = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var v string
		switch d.Val() {
		case "sample":
			if err := oneArg(d, &v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0 && f <= 1) {
				return d.Errf("record sample must be a fraction in (0, 1], not %q", v)
			}
			rc.Sample = f
		case "max_size":
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := humanize.ParseBytes(v)
			if err != nil || n == 0 || n > math.MaxInt64 {
				return d.Errf("record max_size: invalid size %q", v)
			}
			rc.MaxSize = int64(n)
		case "keep":
			if err := oneArg(d, &v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("record keep must be a positive number, not %q", v)
			}
			rc.Keep = n
		case "events":
			rc.Events = d.RemainingArgs()
			if len(rc.Events) == 0 {
				return d.ArgErr()
			}
			for _, id := range rc.Events {
				if err := events.CheckID(id); err != nil {
					return d.Errf("record events: %v", err)
				}
			}
		default:
			return d.Errf("unrecognized record option %q", d.Val())
		}
	}
	h.Record = rc
	return nil
}
