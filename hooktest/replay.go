package hooktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/recording"
	"github.com/idphooks/idphooks/sandbox"
)

// ReplayOptions tune a replay.
type ReplayOptions struct {
	// Hook is the name of the configured hook the new version replaces, as
	// recorded (its file name). Default: the new file's name.
	Hook string
	// Against, if set, is a hook file run beside the new one on each event
	// in place of the recorded outcome (the configured version, when its
	// recorded outcome depended on things that changed since).
	Against string
	// Secrets are the hook's secret values (never recorded).
	Secrets map[string]string
}

// ReplaySummary counts a replay's events.
type ReplaySummary struct {
	Events, Same, Differ, NotCompared int
}

// Replay runs the hook at newPath on every event recorded in eventsPath
// whose configured hook opts.Hook handled it, under the settings that
// hook was recorded with, and reports event by event where the outcomes
// differ.
func Replay(ctx context.Context, newPath, eventsPath string, opts ReplayOptions, w io.Writer) (ReplaySummary, error) {
	var sum ReplaySummary
	if opts.Hook == "" {
		opts.Hook = filepath.Base(newPath)
	}
	f, err := os.Open(eventsPath)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	benches := map[string]*bench{} // by settings: one build per configuration
	get := func(path string, h *recording.Hook, unlock []string) (*bench, error) {
		key := path + "\x00" + mustJSON(h.Mode, h.OnError, h.Applications, h.Timeout, unlock)
		if b, ok := benches[key]; ok {
			return b, nil
		}
		cfg := events.HookConfig{Path: path, Mode: h.Mode, OnError: h.OnError, Applications: h.Applications,
			Secrets: opts.Secrets}
		if h.Timeout != "" {
			d, err := time.ParseDuration(h.Timeout)
			if err != nil {
				return nil, fmt.Errorf("recorded timeout: %w", err)
			}
			cfg.Timeout = d
		}
		b, err := newBench(benchConfig{hook: cfg, unlock: unlock})
		if err != nil {
			return nil, err
		}
		benches[key] = b
		return b, nil
	}
	against := "the recorded " + opts.Hook
	if opts.Against != "" {
		against = opts.Against
	}
	fmt.Fprintf(w, "replay:   %s against %s, on %s\n", newPath, against, eventsPath)
	err = recording.Read(f, func(line int, rec *recording.Record) error {
		recHook, ok := rec.HookByName(opts.Hook)
		if !ok {
			return nil // the hook did not handle this event
		}
		sum.Events++
		evType, _ := rec.Event["type"].(string)
		evID, _ := rec.Event["id"].(string)
		app, _ := rec.Event["application"].(string)
		head := fmt.Sprintf("%s %s %s", evID, evType, app)
		if recHook.Status == events.StatusSkipped && recHook.Reason == string(events.SkipDenied) {
			sum.NotCompared++
			fmt.Fprintf(w, "  %s: not compared: an earlier hook denied before %s's turn\n", head, opts.Hook)
			return nil
		}
		nb, err := get(newPath, recHook, rec.UnlockClaims)
		if err != nil {
			return err
		}
		newOut, err := replayOne(ctx, nb, rec.Event)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", eventsPath, line, err)
		}
		oldOut := outcomeOf(recHook)
		if opts.Against != "" {
			ob, err := get(opts.Against, recHook, rec.UnlockClaims)
			if err != nil {
				return err
			}
			if oldOut, err = replayOne(ctx, ob, rec.Event); err != nil {
				return fmt.Errorf("%s line %d: %w", eventsPath, line, err)
			}
		}
		if oldOut.String() == newOut.String() {
			sum.Same++
			fmt.Fprintf(w, "  %s: same (%s)\n", head, oldOut.short())
			return nil
		}
		sum.Differ++
		fmt.Fprintf(w, "  %s: DIFFERS\n      before: %s\n      new:    %s\n", head, oldOut, newOut)
		return nil
	})
	if err != nil {
		return sum, err
	}
	fmt.Fprintf(w, "summary:  %d events: %d same, %d differ, %d not compared\n", sum.Events, sum.Same, sum.Differ, sum.NotCompared)
	return sum, nil
}

// outcome is what one hook did on one event, in a comparable form.
type outcome struct {
	status, reason string
	ops            []string
}

func (o outcome) String() string {
	s := o.status
	if o.reason != "" {
		s += " (" + o.reason + ")"
	}
	if len(o.ops) > 0 {
		s += ": " + strings.Join(o.ops, ", ")
	}
	return s
}

func (o outcome) short() string {
	if len(o.ops) > 0 {
		return fmt.Sprintf("%s, %d calls", o.status, len(o.ops))
	}
	return o.status
}

// outcomeOf is the recorded outcome of a hook. Values went through JSON
// when recorded; new ones are rendered the same way before comparing.
func outcomeOf(h *recording.Hook) outcome {
	o := outcome{status: h.Status}
	if h.Status == events.StatusSkipped || h.Status == events.StatusFailed {
		o.reason = h.Reason
	}
	for _, op := range h.Ops {
		o.ops = append(o.ops, FormatOp(op.SandboxOp()))
	}
	return o
}

func replayOne(ctx context.Context, b *bench, event map[string]any) (outcome, error) {
	_, out, err := b.run(ctx, copyJSON(event))
	if err != nil {
		return outcome{}, err
	}
	if out.Trace == nil || len(out.Trace.Hooks) == 0 {
		return outcome{status: "not handled"}, nil
	}
	ht := out.Trace.Hooks[0]
	h := recording.Hook{Status: ht.Status, Reason: ht.Reason}
	if ht.Status == events.StatusStarted {
		// The record knows only that the configured version was started
		// (it is written before async runs end): a new version that
		// fails where it was started is a difference.
		if ran, err := b.asyncResult(); ran && err != nil {
			h.Status, h.Reason = events.StatusFailed, sandbox.Kind(err)
		}
	}
	for _, op := range ht.OpsOf() {
		h.Ops = append(h.Ops, recording.OpOf(op))
	}
	// Through JSON, as recorded values went.
	var norm recording.Hook
	_ = json.Unmarshal([]byte(mustJSON(h)), &norm)
	return outcomeOf(&norm), nil
}

func mustJSON(v ...any) string {
	b, _ := json.Marshal(v)
	if len(v) == 1 {
		b, _ = json.Marshal(v[0])
	}
	return string(b)
}
