package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DeRuina/timberjack"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
)

// Config says what to record and where.
type Config struct {
	// Path of the file; rotated files sit beside it.
	Path string
	// Sample is the fraction of occurrences recorded, (0, 1]. Default 1.
	Sample float64
	// MaxSizeMB rotates the file at this size. Default 10.
	MaxSizeMB int
	// Keep is how many rotated files are kept. Default 2.
	Keep int
	// Events limits recording to these event ids; empty: all.
	Events []string
	// UnlockClaims and Hooks are the settings recorded with each event;
	// SetSettings replaces them (a config reload shares the recorder).
	UnlockClaims []string
	Hooks        []Hook
}

// settings are what is recorded beside each event.
type settings struct {
	unlock []string
	hooks  map[string]Hook
}

func newSettings(unlock []string, hooks []Hook) *settings {
	s := &settings{unlock: unlock, hooks: make(map[string]Hook, len(hooks))}
	for _, h := range hooks {
		s.hooks[h.Hook] = h
	}
	return s
}

// Recorder writes records off the request path: Record renders the event
// (it must, while the caller owns it) and hands the line to a writer
// goroutine; when that falls behind, lines are dropped and counted, never
// waited for.
type Recorder struct {
	cfg      Config
	events   map[string]bool
	settings atomic.Pointer[settings]
	lines    chan []byte
	w        io.WriteCloser
	log      *zap.Logger

	mu      sync.Mutex
	dropped int
	done    chan struct{}
	closed  bool
}

// queueLen bounds the lines waiting for the disk.
const queueLen = 256

// Open starts a recorder. The file is created (0600: it holds real users'
// events) in a folder made if needed.
func Open(cfg Config, log *zap.Logger) (*Recorder, error) {
	if cfg.Path == "" {
		return nil, errors.New("recording: no path")
	}
	if cfg.Sample == 0 {
		cfg.Sample = 1
	}
	if cfg.Sample < 0 || cfg.Sample > 1 {
		return nil, fmt.Errorf("recording: sample %v must be in (0, 1]", cfg.Sample)
	}
	if cfg.MaxSizeMB <= 0 {
		cfg.MaxSizeMB = 10
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 2
	}
	for _, id := range cfg.Events {
		if _, ok := events.Lookup(id); !ok {
			return nil, fmt.Errorf("recording: %w", events.CheckID(id))
		}
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	// Fail now, not on the first event, when the file cannot be written.
	f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	f.Close()
	if log == nil {
		log = zap.NewNop()
	}
	r := &Recorder{
		cfg:   cfg,
		lines: make(chan []byte, queueLen),
		w: &timberjack.Logger{Filename: cfg.Path, MaxSize: cfg.MaxSizeMB, MaxBackups: cfg.Keep,
			FileMode: 0o600},
		log:  log,
		done: make(chan struct{}),
	}
	if len(cfg.Events) > 0 {
		r.events = make(map[string]bool, len(cfg.Events))
		for _, id := range cfg.Events {
			r.events[id] = true
		}
	}
	r.SetSettings(cfg.UnlockClaims, cfg.Hooks)
	go r.write()
	return r, nil
}

// SetSettings replaces the settings recorded beside each event: the
// config that now runs the hooks.
func (r *Recorder) SetSettings(unlock []string, hooks []Hook) {
	r.settings.Store(newSettings(unlock, hooks))
}

// Sample implements events.Recorder.
func (r *Recorder) Sample(event string) bool {
	if r.events != nil && !r.events[event] {
		return false
	}
	return r.cfg.Sample >= 1 || rand.Float64() < r.cfg.Sample
}

// Record implements events.Recorder.
func (r *Recorder) Record(event map[string]any, t *events.Trace) {
	rec, err := fromTrace(event, t, r.settings.Load())
	if err != nil {
		r.log.Warn("event not recorded", zap.String("event_id", t.EventID), zap.Error(err))
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		r.log.Warn("event not recorded", zap.String("event_id", t.EventID), zap.Error(err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.lines <- append(b, '\n'):
	default:
		r.dropped++
	}
}

func (r *Recorder) write() {
	defer close(r.done)
	failing := false
	for b := range r.lines {
		if _, err := r.w.Write(b); err != nil {
			// A full disk must not flood the log: once per episode.
			if !failing {
				r.log.Error("recording events failed; records are dropped until the file can be written",
					zap.String("path", r.cfg.Path), zap.Error(err))
			}
			failing = true
			continue
		}
		if failing {
			r.log.Info("recording events again", zap.String("path", r.cfg.Path))
			failing = false
		}
	}
}

// Close flushes what is queued, up to a few seconds, and closes the file.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	dropped := r.dropped
	close(r.lines)
	r.mu.Unlock()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
	}
	if dropped > 0 {
		r.log.Warn("events not recorded: the writer fell behind", zap.Int("dropped", dropped))
	}
	return r.w.Close()
}
