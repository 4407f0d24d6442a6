package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/sandbox"
)

// Policy is what a failed sync hook does to the flow.
type Policy string

const (
	// Deny stops the flow, as if the hook had denied (the default: a hook
	// that guards access must not open the door by failing).
	Deny Policy = "deny"
	// Continue drops the failed hook's changes and goes on.
	Continue Policy = "continue"
)

// Hook is one configured hook: a compiled program and how to run it.
type Hook struct {
	// Name identifies the hook in logs and metrics (its file name).
	Name string
	// Runner is the compiled program.
	Runner sandbox.Runner
	// Mode overrides the event's default mode when set.
	Mode Mode
	// Timeout bounds one run.
	Timeout time.Duration
	// OnError is the policy for a failed sync run.
	OnError Policy
	// Applications limits the hook to these client ids / SP entity ids;
	// empty means every application.
	Applications []string
	// Receiver names the hook's queued messages (its async events); empty
	// means "hook:" and Name. Two hooks of one queue need two names.
	Receiver string
}

func (h *Hook) appliesTo(app string) bool {
	if len(h.Applications) == 0 {
		return true
	}
	for _, a := range h.Applications {
		if a == app {
			return true
		}
	}
	return false
}

func (h *Hook) mode(spec Spec) Mode {
	if h.Mode != "" {
		return h.Mode
	}
	return spec.Mode
}

// Outcome is what the sync hooks of one event asked for.
type Outcome struct {
	// Ops are the api calls of every successful hook, in hook order.
	Ops []sandbox.Op
	// Denied is set when a hook called api.deny or failed with the deny
	// policy. Reason is safe to show to the end user.
	Denied bool
	Reason string
	// Failed is set when the deny is a hook's on_error policy (it failed,
	// or the budget ran out before it), not its own api.deny: pages that
	// speak to a customer show their own generic message then.
	Failed bool
	// Err is set when the event's async receivers could not be told (the
	// outbox refused it): the request must fail, retryable (503), since
	// its answer would promise a delivery that cannot happen. It wraps
	// ErrNotQueued: logged here, once per outage, not by the caller.
	Err error
	// Ran counts the sync hooks that ran.
	Ran int
	// Trace is what happened, hook by hook (nil when no hook handles the
	// event at all).
	Trace *Trace
}

// Options tune a Dispatcher.
type Options struct {
	// Budget bounds all sync hooks of one event together.
	Budget time.Duration
	// MaxAsync bounds async runs in flight; more are dropped with a log
	// line (durable delivery is the webhook queue's job, not this one's).
	MaxAsync int
	// AsyncTimeout bounds one async run.
	AsyncTimeout time.Duration
	Logger       *zap.Logger
	// Metrics counts skips; nil counts nothing.
	Metrics *Metrics
	// Traces keeps recent traces for the admin endpoint; nil keeps none.
	Traces *TraceLog
	// Recorder, if set, is offered every occurrence (see Recorder).
	Recorder Recorder
	// OnAsync, if set, is told how each async run ended (the workbench
	// reports and compares them; the server only logs failures).
	OnAsync func(hook string, ev *Event, res *sandbox.Result, err error)
	// Outbox, if set, takes the events of async hooks and Receivers
	// durably; the delivery workers run and send them. Without it async
	// hooks run in process, best effort (bounded by MaxAsync).
	Outbox Outbox
	// Receivers are notify receivers (webhooks); they need an Outbox.
	Receivers []Receiver
}

// Recorder keeps a sample of real events, for replaying them against a new
// version of a hook.
type Recorder interface {
	// Sample reports whether this occurrence of event is to be recorded;
	// it is asked before the event's data is rendered.
	Sample(event string) bool
	// Record keeps the event as hooks saw it and what they did. It must
	// keep neither past the call: async hooks may still read the event,
	// and the trace loses its values once it joins the trace log.
	Record(event map[string]any, t *Trace)
}

// Dispatcher runs the configured hooks of each event.
type Dispatcher struct {
	hooks []*Hook
	opts  Options
	log   *zap.Logger
	skips skipLog
	// unqueued is set while the outbox refuses events: the episode is
	// logged at its start and end, not on every request it fails.
	unqueued atomic.Bool

	asyncSem chan struct{}
	asyncWG  sync.WaitGroup
}

// DefaultBudget bounds the sync hooks of one event when not configured.
const DefaultBudget = 2 * time.Second

// NewDispatcher returns a dispatcher over hooks, run in the given order.
func NewDispatcher(hooks []*Hook, opts Options) *Dispatcher {
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
	}
	if opts.MaxAsync <= 0 {
		opts.MaxAsync = 256
	}
	if opts.AsyncTimeout <= 0 {
		opts.AsyncTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	return &Dispatcher{hooks: hooks, opts: opts, log: opts.Logger, asyncSem: make(chan struct{}, opts.MaxAsync)}
}

// Hooks returns the configured hooks, in order.
func (d *Dispatcher) Hooks() []*Hook {
	if d == nil {
		return nil
	}
	return d.hooks
}

// Wants reports whether any hook, sync or async, handles the event for app.
// Interceptors use it to leave traffic nobody listens to untouched; when
// the event happens all the same, they call Skip so the hooks it leaves
// out are counted.
func (d *Dispatcher) Wants(event, app string) bool {
	return d.anyHook(event, func(h *Hook) bool { return h.appliesTo(app) }) || d.wantsReceivers(event, &app)
}

// anyHook reports whether a hook handling event satisfies match.
func (d *Dispatcher) anyHook(event string, match func(*Hook) bool) bool {
	if d == nil {
		return false
	}
	handler := HandlerName(event)
	for _, h := range d.hooks {
		if match(h) && h.Runner.Exports(handler) {
			return true
		}
	}
	return false
}

// Skip records an occurrence of event for app that the interceptor does
// not dispatch because Wants said no: every hook that handles the event
// is skipped for its application filter. It costs nothing when no hook
// handles the event.
func (d *Dispatcher) Skip(event, app, requestID string) {
	if !d.WantsEvent(event) {
		return
	}
	start := time.Now()
	t := &Trace{Time: start.UTC(), RequestID: requestID, Event: event, Application: app, Outcome: "no hook ran"}
	handler := HandlerName(event)
	spec, _ := Lookup(event)
	for _, h := range d.hooks {
		if h.Runner.Exports(handler) && !h.appliesTo(app) {
			d.skip(t, h, h.mode(spec), SkipApplication)
		}
	}
	d.opts.Traces.Add(t)
}

// skip counts, logs (once) and traces one hook not run.
func (d *Dispatcher) skip(t *Trace, h *Hook, mode Mode, reason SkipReason) {
	t.Hooks = append(t.Hooks, HookTrace{Hook: h.Name, Mode: mode, Status: StatusSkipped, Reason: string(reason)})
	d.opts.Metrics.skip(h.Name, reason)
	if d.skips.first(skipKey{hook: h.Name, app: t.Application, event: t.Event, reason: reason}, d.log) {
		fields := []zap.Field{zap.String("hook", h.Name), zap.String("event", t.Event),
			zap.String("application", t.Application), zap.String("reason", string(reason)),
			zap.String("request_id", t.RequestID)}
		if reason == SkipApplication {
			fields = append(fields, zap.Strings("applications", h.Applications))
		}
		if reason == SkipBudget || reason == SkipOverloaded {
			// Work that should have run did not: an incident.
			fields = append(fields, zap.String("on_error", string(h.policy())))
			d.log.Warn(skipMessage[reason], fields...)
		} else {
			d.log.Info(skipMessage[reason], fields...)
		}
	}
}

// Dispatch runs the sync hooks of ev in order, then starts the async ones.
// check validates each api call as the hook makes it (protected claims…).
// Every hook that handles the event appears in the outcome's trace: run,
// failed, denied, or skipped with its reason.
func (d *Dispatcher) Dispatch(ctx context.Context, ev *Event, check func(sandbox.Op) error) Outcome {
	var out Outcome
	if d == nil {
		return out
	}
	spec, ok := Lookup(ev.Type)
	if !ok {
		return out
	}
	handler := HandlerName(ev.Type)
	var data map[string]any
	begin := time.Now()
	deadline := begin.Add(d.opts.Budget)
	var async []*Hook
	var t *Trace
	for _, h := range d.hooks {
		if !h.Runner.Exports(handler) {
			continue
		}
		if t == nil {
			t = &Trace{Time: begin.UTC(), RequestID: ev.Request.ID, EventID: ev.ID, Event: ev.Type,
				Application: ev.Application, Hooks: make([]HookTrace, 0, len(d.hooks))}
		}
		mode := h.mode(spec)
		if !h.appliesTo(ev.Application) {
			d.skip(t, h, mode, SkipApplication)
			continue
		}
		if mode == Async {
			if !spec.Secret {
				async = append(async, h)
			}
			continue
		}
		if out.Denied {
			d.skip(t, h, mode, SkipDenied)
			continue
		}
		if data == nil {
			data = ev.Map()
		}
		timeout := time.Until(deadline)
		if h.Timeout > 0 && h.Timeout < timeout {
			timeout = h.Timeout
		}
		if timeout <= 0 {
			d.skip(t, h, mode, SkipBudget)
			d.applyPolicy(&out, h)
			continue
		}
		out.Ran++
		start := time.Now()
		res, err := h.Runner.Run(ctx, sandbox.Invocation{
			Handler: handler, Event: data, API: spec.API(check), Timeout: timeout,
			EventType: ev.Type, RequestID: ev.Request.ID, Redact: ev.Secrets,
		})
		ht := HookTrace{Hook: h.Name, Mode: mode, Status: StatusRan, DurationUS: time.Since(start).Microseconds()}
		if err != nil {
			// A failed run has no Result: its duration is measured here.
			d.fail(&out, h, ev, err, time.Since(start))
			ht.Status, ht.Reason, ht.OnError, ht.Error = StatusFailed, sandbox.Kind(err), h.policy(), err.Error()
			if reason, ok := deniedBefore(err); ok {
				// A deny the hook made before a later line failed
				// stands, whatever on_error says: continuing would undo
				// the one decision the hook did reach.
				out.Denied, out.Reason, out.Failed = true, redactEvent(h, ev, reason), false
				ht.Status = StatusDenied
			}
			t.Hooks = append(t.Hooks, ht)
			continue
		}
		if len(res.Ops) > 0 {
			ht.ops, ht.Ops = res.Ops, make([]OpRef, 0, len(res.Ops))
			ht.redact = redactorOf(h)
		}
		for k, op := range res.Ops {
			out.Ops = append(out.Ops, op)
			ht.Ops = append(ht.Ops, refOf(op, ht.redact))
			if op.Object == "" && op.Method == "deny" {
				out.Denied = true
				out.Reason = redactEvent(h, ev, denyReason(op))
				ht.Status = StatusDenied
				ht.ops = res.Ops[:k+1]
				d.hookLog(h, ev).Info("hook denied", zap.String("reason", out.Reason))
				break
			}
		}
		t.Hooks = append(t.Hooks, ht)
	}
	if t == nil {
		// No hook handles the event; receivers may.
		if !spec.Secret && d.opts.Outbox != nil && d.wantsReceivers(ev.Type, &ev.Application) {
			out.Err = d.enqueue(ctx, ev, ev.Map(), nil)
		}
		return out
	}
	for _, h := range async {
		t.Hooks = append(t.Hooks, HookTrace{Hook: h.Name, Mode: Async, Status: StatusStarted})
	}
	t.Outcome = "continued"
	if out.Ran == 0 && len(async) == 0 {
		t.Outcome = "no hook ran"
	}
	if out.Denied {
		t.Outcome, t.Reason = "denied", truncateName(out.Reason, maxTraceReason)
	}
	switch {
	case spec.Secret:
	case d.opts.Outbox != nil:
		if len(async) > 0 || d.wantsReceivers(ev.Type, &ev.Application) {
			if data == nil {
				data = ev.Map()
			}
			out.Err = d.enqueue(ctx, ev, data, async)
		}
	case len(async) > 0:
		if data == nil {
			data = ev.Map()
		}
		d.startAsync(ev, data, handler, async, t)
	}
	t.DurationUS = time.Since(begin).Microseconds()
	out.Trace = t
	if rec := d.opts.Recorder; rec != nil && !spec.Secret && rec.Sample(ev.Type) {
		if data == nil {
			data = ev.Map()
		}
		rec.Record(data, t)
	}
	if d.opts.Traces != nil {
		// The admin endpoint's log keeps no values (and does not hold on
		// to up to 256 KiB of arguments per run); the copy the caller
		// gets is the same trace, so it loses them too.
		for i := range t.Hooks {
			t.Hooks[i].ops = nil
		}
		d.opts.Traces.Add(t)
	}
	return out
}

// hookLog is the logger of one hook's run on ev; built only when something
// is logged: most runs log nothing.
func (d *Dispatcher) hookLog(h *Hook, ev *Event) *zap.Logger {
	return d.log.With(zap.String("hook", h.Name), zap.String("event", ev.Type),
		zap.String("event_id", ev.ID), zap.String("request_id", ev.Request.ID))
}

// fail applies a failed sync run's policy and logs the failure: the one
// line it gets (the sandbox logs none), with the hook's stack when it threw.
func (d *Dispatcher) fail(out *Outcome, h *Hook, ev *Event, err error, dur time.Duration) {
	fields := []zap.Field{zap.String("kind", sandbox.Kind(err)), zap.Duration("duration", dur),
		zap.String("on_error", string(h.policy())), zap.Error(err)}
	if st := sandbox.Stack(err); st != "" {
		fields = append(fields, zap.String("stack", st))
	}
	d.hookLog(h, ev).Error("hook failed", fields...)
	d.applyPolicy(out, h)
}

// applyPolicy makes a hook that could not do its work deny, unless its
// on_error says continue.
func (d *Dispatcher) applyPolicy(out *Outcome, h *Hook) {
	if h.policy() == Deny {
		out.Denied, out.Failed = true, true
		// The cause stays in the log: the end user sees a generic reason.
		out.Reason = "request denied by policy"
	}
}

func (h *Hook) policy() Policy {
	if h.OnError == "" {
		return Deny
	}
	return h.OnError
}

// deniedBefore reports a deny a failed run made before it failed.
func deniedBefore(err error) (string, bool) {
	var e *sandbox.Error
	if !errors.As(err, &e) {
		return "", false
	}
	for _, op := range e.Recorded {
		if op.Object == "" && op.Method == "deny" {
			return denyReason(op), true
		}
	}
	return "", false
}

// redactorOf returns the hook's secret redactor, when its runner has one.
func redactorOf(h *Hook) func(string) string {
	if r, ok := h.Runner.(interface{ Redact(string) string }); ok {
		return r.Redact
	}
	return nil
}

// redact hides the hook's secrets in what it handed back (a deny reason
// goes to the end user and the log).
func redact(h *Hook, s string) string {
	if f := redactorOf(h); f != nil {
		return f(s)
	}
	return s
}

// redactEvent is redact, the event's secrets hidden too.
func redactEvent(h *Hook, ev *Event, s string) string {
	s = redact(h, s)
	for _, v := range ev.Secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}

func denyReason(op sandbox.Op) string {
	if len(op.Args) > 0 {
		if s, ok := op.Args[0].(string); ok && s != "" {
			return s
		}
	}
	return "access denied"
}

// startAsync runs hooks that are told, not asked. Their api is empty and
// their failures are only logged.
func (d *Dispatcher) startAsync(ev *Event, data map[string]any, handler string, hooks []*Hook, t *Trace) {
	for _, h := range hooks {
		select {
		case d.asyncSem <- struct{}{}:
		default:
			// Counted and traced as a skip; the trace already lists the
			// hook as started, so its entry is corrected.
			for i := range t.Hooks {
				if t.Hooks[i].Hook == h.Name && t.Hooks[i].Status == StatusStarted {
					t.Hooks = append(t.Hooks[:i], t.Hooks[i+1:]...)
					break
				}
			}
			d.skip(t, h, Async, SkipOverloaded)
			continue
		}
		d.asyncWG.Add(1)
		go func(h *Hook) {
			defer func() { <-d.asyncSem; d.asyncWG.Done() }()
			timeout := d.opts.AsyncTimeout
			if h.Timeout > 0 {
				timeout = h.Timeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			res, err := h.Runner.Run(ctx, sandbox.Invocation{
				Handler: handler, Event: data, Timeout: timeout, EventType: ev.Type, RequestID: ev.Request.ID,
			})
			if d.opts.OnAsync != nil {
				d.opts.OnAsync(h.Name, ev, res, err)
			}
			if err != nil {
				d.log.Error("async hook failed", zap.String("hook", h.Name), zap.String("event", ev.Type),
					zap.String("event_id", ev.ID), zap.String("request_id", ev.Request.ID),
					zap.String("kind", sandbox.Kind(err)), zap.Duration("duration", time.Since(start)), zap.Error(err))
			}
		}(h)
	}
}

// Close waits for async runs in flight, up to ctx.
func (d *Dispatcher) Close(ctx context.Context) error {
	if d == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { d.asyncWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("async hooks still running: %w", ctx.Err())
	}
}

// WantsEvent reports whether any hook handles the event, whatever its
// application filter.
func (d *Dispatcher) WantsEvent(event string) bool {
	return d.anyHook(event, func(*Hook) bool { return true }) || d.wantsReceivers(event, nil)
}

// HasFilteredHook reports whether a hook on the event is limited to some
// applications: then the application of each occurrence must be known.
func (d *Dispatcher) HasFilteredHook(event string) bool {
	if d.anyHook(event, func(h *Hook) bool { return len(h.Applications) > 0 }) {
		return true
	}
	for i := range d.opts.Receivers {
		if r := &d.opts.Receivers[i]; len(r.Applications) > 0 && slices.Contains(r.Events, event) {
			return true
		}
	}
	return false
}
