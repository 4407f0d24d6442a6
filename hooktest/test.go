// Package hooktest is the hook workbench behind `caddy idp-hooks test` and
// `caddy idp-hooks replay`: it runs a hook on a sample or recorded event
// through the same build and dispatch code the server uses, and reports
// what changed.
package hooktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// Options are what the CLI knows beyond the files.
type Options struct {
	// Raised are the events the configured interceptors raise; a hook on
	// another event is warned about, as at provision.
	Raised []string
}

// ErrFailed is returned when the hook failed (after reporting it).
var ErrFailed = errors.New("the hook failed")

// Run runs the hook at hookPath on the fixture at fixturePath and writes a
// report to w: what the hook did, the resulting tokens or userinfo as a
// diff against the event's, its console output and the server's log lines.
func Run(ctx context.Context, hookPath, fixturePath string, w io.Writer, opts Options) error {
	fx, err := readFixture(fixturePath)
	if err != nil {
		return err
	}
	cfg, err := fx.hookConfig(hookPath)
	if err != nil {
		return fmt.Errorf("%s: %w", fixturePath, err)
	}
	budget, err := fx.budget()
	if err != nil {
		return fmt.Errorf("%s: %w", fixturePath, err)
	}
	var api *sandbox.API
	if fx.API != nil {
		api = &sandbox.API{Objects: fx.API.Objects, Functions: fx.API.Functions}
	}
	b, err := newBench(benchConfig{hook: cfg, unlock: fx.UnlockClaims, budget: budget, api: api})
	if err != nil {
		return err
	}
	handler := events.HandlerName(fx.Type)
	fmt.Fprintf(w, "hook:     %s\nevent:    %s (%s)\n", cfg.Path, fx.Type, handler)
	if opts.Raised != nil {
		for _, id := range b.hook.Unraised(opts.Raised) {
			fmt.Fprintf(w, "warning:  %s handles %s, which no interceptor raises yet: the server never runs it\n",
				b.hook.Name, id)
		}
	}
	if !b.hook.Runner.Exports(handler) {
		fmt.Fprintf(w, "result:   not handled: the hook exports %s, not %s\n",
			strings.Join(b.hook.Events(), ", "), handler)
		return nil
	}
	before := copyJSON(fx.Event)
	_, out, err := b.run(ctx, fx.Event)
	if err != nil {
		return fmt.Errorf("%s: %w", fixturePath, err)
	}
	failed := report(w, b, fx.Type, before, out)
	printLogs(w, b.logs.All())
	if failed {
		return ErrFailed
	}
	return nil
}

// report prints the outcome of one dispatch and reports whether the hook
// failed.
func report(w io.Writer, b *bench, typ string, before map[string]any, out events.Outcome) (failed bool) {
	if out.Trace == nil || len(out.Trace.Hooks) == 0 {
		fmt.Fprintf(w, "result:   not run\n")
		return false
	}
	ht := out.Trace.Hooks[0]
	fmt.Fprintf(w, "mode:     %s\n", ht.Mode)
	if ht.DurationUS > 0 || ht.Status == events.StatusRan {
		fmt.Fprintf(w, "duration: %s\n", fmtMicros(ht.DurationUS))
	}
	switch ht.Status {
	case events.StatusSkipped:
		fmt.Fprintf(w, "result:   skipped: %s\n", skipText(b.hook, out.Trace, ht))
		if out.Denied {
			fmt.Fprintf(w, "outcome:  denied (%s, on_error %s)\n", out.Reason, onError(b.hook))
		}
		return false
	case events.StatusFailed, events.StatusDenied:
		if ht.Error == "" {
			break
		}
		fmt.Fprintf(w, "result:   failed (%s): %s\n", ht.Reason, ht.Error)
		if ht.Status == events.StatusDenied {
			fmt.Fprintf(w, "outcome:  denied: the hook called api.deny before it failed, and that stands; the client gets %s\n", deniedAnswer(typ, out.Reason))
			return true
		}
		if out.Denied {
			fmt.Fprintf(w, "outcome:  denied: on_error deny; the client gets %s\n", deniedAnswer(typ, out.Reason))
		} else {
			fmt.Fprintf(w, "outcome:  the flow goes on without the hook's changes (on_error continue)\n")
		}
		return true
	case events.StatusStarted:
		fmt.Fprintf(w, "result:   ran async: told after the fact; the flow does not wait for it\n")
		if ran, err := b.asyncResult(); ran && err != nil {
			fmt.Fprintf(w, "result:   the async run failed (%s): %v\n", sandbox.Kind(err), err)
			if st := sandbox.Stack(err); st != "" {
				fmt.Fprintf(w, "stack:\n  %s\n", strings.ReplaceAll(st, "\n", "\n  "))
			}
			return true
		}
		return false
	}
	ops := ht.OpsOf()
	if len(ops) == 0 {
		fmt.Fprintf(w, "result:   no changes\n")
	} else {
		fmt.Fprintf(w, "calls:\n")
		for _, op := range ops {
			fmt.Fprintf(w, "  %s\n", FormatOp(op))
		}
	}
	if out.Denied {
		fmt.Fprintf(w, "outcome:  denied; the client gets %s\n", deniedAnswer(typ, out.Reason))
		return false
	}
	printDiffs(w, b.policy, typ, before, ops)
	return false
}

func skipText(h *events.Hook, t *events.Trace, ht events.HookTrace) string {
	switch events.SkipReason(ht.Reason) {
	case events.SkipApplication:
		return fmt.Sprintf("application %q is not in its applications (%s)", t.Application, strings.Join(h.Applications, " "))
	case events.SkipBudget:
		return "the event's budget was spent before its turn"
	}
	return ht.Reason
}

func onError(h *events.Hook) string {
	if h.OnError == "" {
		return string(events.Deny)
	}
	return string(h.OnError)
}

// deniedAnswer is what the client receives when the flow is denied at typ.
func deniedAnswer(typ, reason string) string {
	body := fmt.Sprintf(`{"error":"access_denied","error_description":%q}`, reason)
	switch typ {
	case events.BeforeToken, events.AfterTokenRefresh:
		return "400 " + body
	case events.BeforeUserinfo:
		return "403 " + body
	}
	return fmt.Sprintf("a denial (%q)", reason)
}

func fmtMicros(us int64) string {
	if us < 1000 {
		return fmt.Sprintf("%dµs", us)
	}
	return fmt.Sprintf("%.1fms", float64(us)/1000)
}
