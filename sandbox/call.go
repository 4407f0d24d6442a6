package sandbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
)

// call is one run of one hook on a pooled runtime: the ops recorded so far
// and the little event loop that brings async host work (fetch, cache)
// back onto the runtime's goroutine.
type call struct {
	ctx  context.Context
	hook *Hook
	inv  Invocation
	rt   *runtime
	vm   *goja.Runtime

	// redactor hides the invocation's Redact values, after the hook's
	// own secrets.
	redactor *strings.Replacer

	ops     []Op
	opBytes int
	logged  int // console lines written
	fetches int // fetch calls made

	// jobs carries the completions of async host work; pending counts the
	// work started and not yet completed. Only the run goroutine touches
	// pending and runs jobs.
	jobs    chan func() error
	pending int

	// rejected holds promises rejected with no handler attached yet; any
	// left when the handler settles fail the run.
	rejected []*goja.Promise

	// origins holds where the hook started the async work whose errors
	// rejected its promises: made on the loop, such an error has no
	// stack of its own (see failureFrames).
	origins map[*goja.Object][]goja.StackFrame

	// abort is set by host code that stops the run with an uncatchable
	// interrupt (limits); it wins over the InterruptedError goja returns.
	abort error

	// modules is this run's require() cache, made on first use: a module
	// evaluated in one run is never seen by the next.
	modules *require.RequireModule

	guard         guarded // see memoryGuard
	stopInterrupt func() bool
}

func (h *Hook) newCall(ctx context.Context, rt *runtime, inv Invocation) *call {
	c := &call{ctx: ctx, hook: h, inv: inv, rt: rt, vm: rt.vm, jobs: make(chan func() error, 4)}
	if len(inv.Redact) > 0 {
		values := make(map[string]string, len(inv.Redact))
		for k, v := range inv.Redact {
			values[strconv.Itoa(k)] = v
		}
		c.redactor = newRedactor(values)
	}
	rt.cur = c
	h.engine.guard.enter(c, &c.guard)
	// Interrupt stops JavaScript only; host functions watch ctx themselves.
	c.stopInterrupt = context.AfterFunc(ctx, func() { c.vm.Interrupt(errInterruptDeadline) })
	return c
}

// errInterruptDeadline is the interrupt value of a run past its deadline;
// the memory guard's is a *memoryExceeded.
var errInterruptDeadline = errors.New("deadline")

// finish ends the run and reports whether its runtime may serve another
// one: not if an interrupt fired or may still fire.
func (c *call) finish() (reusable bool) {
	c.hook.engine.guard.leave(&c.guard)
	if !c.stopInterrupt() || c.abort != nil {
		return false
	}
	c.vm.ClearInterrupt()
	return true
}

func (c *call) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	if op == goja.PromiseRejectionReject {
		c.rejected = append(c.rejected, p)
		return
	}
	for i, q := range c.rejected {
		if q == p {
			c.rejected = append(c.rejected[:i], c.rejected[i+1:]...)
			return
		}
	}
}

// loadModule evaluates the hook's module body and returns its exports.
// It runs on every call, so module-level state starts afresh each time.
func (c *call) loadModule() (*goja.Object, error) {
	fn, err := c.vm.RunProgram(c.hook.program)
	if err != nil {
		return nil, c.fail(err)
	}
	body, _ := goja.AssertFunction(fn)
	module := c.vm.NewObject()
	exports := c.vm.NewObject()
	_ = module.Set("exports", exports)
	path := c.hook.path
	if _, err := body(exports, exports, c.vm.Get("require"), module,
		c.vm.ToValue(path), c.vm.ToValue(filepath.Dir(path))); err != nil {
		return nil, c.fail(err)
	}
	// module.exports may have been replaced wholesale.
	obj := module.Get("exports")
	if obj == nil || goja.IsUndefined(obj) || goja.IsNull(obj) {
		return c.vm.NewObject(), nil
	}
	return obj.ToObject(c.vm), nil
}

// run loads the module, calls the handler and waits for it to settle.
func (c *call) run() error {
	exports, err := c.loadModule()
	if err != nil {
		return err
	}
	handler, ok := goja.AssertFunction(exports.Get(c.inv.Handler))
	if !ok {
		return c.errorf(ErrThrown, "%s is not an exported function", c.inv.Handler)
	}
	ret, err := handler(goja.Undefined(), newLazyEvent(c.vm, c.inv.Event), c.api())
	if err != nil {
		return c.fail(err)
	}
	if err := c.settle(ret); err != nil {
		return err
	}
	if len(c.rejected) > 0 {
		return c.thrownError("unhandled promise rejection: ", c.rejected[0].Result(), nil)
	}
	return nil
}

// settle runs the event loop until the handler's promise, if it returned
// one, is settled.
func (c *call) settle(ret goja.Value) error {
	p, ok := ret.Export().(*goja.Promise)
	if !ok {
		return nil
	}
	for p.State() == goja.PromiseStatePending {
		if c.pending == 0 {
			return c.errorf(ErrUnsettled, "awaiting a promise nothing will settle")
		}
		select {
		case job := <-c.jobs:
			c.pending--
			if err := job(); err != nil {
				return c.fail(err)
			}
		case <-c.ctx.Done():
			return c.deadlineError()
		}
	}
	if p.State() == goja.PromiseStateRejected {
		c.trackRejection(p, goja.PromiseRejectionHandle) // reported below, not twice
		return c.thrownError("", p.Result(), nil)
	}
	return nil
}

// async starts work off the runtime goroutine and returns the promise it
// settles. work must honour ctx; the function it returns runs back on the
// loop, where it may touch the runtime.
func (c *call) async(work func(ctx context.Context) (func() (goja.Value, error), error)) goja.Value {
	p, resolve, reject := c.vm.NewPromise()
	c.pending++
	// The call site, for the error should the work fail: the innermost
	// frames only, about 150 ns against the work's microseconds.
	site := c.vm.CaptureCallStack(maxFrames, nil)
	fail := func(err error) error {
		v := c.jsError(err)
		if obj, ok := v.(*goja.Object); ok {
			if c.origins == nil {
				c.origins = map[*goja.Object][]goja.StackFrame{}
			}
			c.origins[obj] = site
		}
		return reject(v)
	}
	c.hook.engine.workers.do(func() {
		done, err := safeWork(c.ctx, work)
		job := func() error {
			if err != nil {
				return fail(err)
			}
			v, err := done()
			if err != nil {
				return fail(err)
			}
			return resolve(v)
		}
		select {
		case c.jobs <- job:
		case <-c.ctx.Done():
		}
	})
	return c.vm.ToValue(p)
}

// safeWork runs work, turning a Go panic in it into an error: it runs on a
// worker goroutine, where a panic would end the whole process.
func safeWork(ctx context.Context, work func(ctx context.Context) (func() (goja.Value, error), error)) (done func() (goja.Value, error), err error) {
	defer func() {
		if x := recover(); x != nil {
			done, err = nil, fmt.Errorf("internal error: %v", x)
		}
	}()
	return work(ctx)
}

// abortf stops the run with an error the hook cannot catch.
func (c *call) abortf(kind error, format string, args ...any) {
	if c.abort == nil {
		c.abort = c.errorf(kind, format, args...)
	}
	c.vm.Interrupt(c.abort)
}

// fail turns an error from goja into a run error.
func (c *call) fail(err error) error {
	if c.abort != nil {
		return c.abort
	}
	var interrupted *goja.InterruptedError
	if errors.As(err, &interrupted) {
		if m, ok := interrupted.Value().(*memoryExceeded); ok {
			err := c.errorf(ErrLimit, "%s", m)
			err.(*Error).overMemory = true
			return err
		}
		return c.deadlineError()
	}
	var overflow *goja.StackOverflowError
	if errors.As(err, &overflow) {
		c.abort = c.errorf(ErrLimit, "maximum call stack size (%d) exceeded", c.hook.engine.opts.MaxCallStackSize)
		return c.abort
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return c.thrownError("", ex.Value(), ex.Stack())
	}
	return c.errorf(ErrThrown, "%v", err)
}

func (c *call) deadlineError() error {
	if errors.Is(c.ctx.Err(), context.Canceled) {
		return c.errorf(ErrTimeout, "canceled")
	}
	return c.errorf(ErrTimeout, "")
}

func (c *call) errorf(kind error, format string, args ...any) error {
	return &Error{
		Hook:    c.hook.opts.Name,
		Handler: c.inv.Handler,
		Kind:    kind,
		Detail:  truncate(c.redact(fmt.Sprintf(format, args...)), maxDetail),
	}
}

// jsError is the JavaScript error thrown for a host error, secrets
// redacted.
func (c *call) jsError(err error) goja.Value {
	var t thrown
	if errors.As(err, &t) {
		return t.v
	}
	return c.vm.NewGoError(c.redactErr(err))
}

// typeError makes a TypeError value; host functions panic with it to throw.
func (c *call) typeError(format string, args ...any) *goja.Object {
	return c.vm.NewTypeError(c.redact(fmt.Sprintf(format, args...)))
}

// thrown carries a ready JavaScript error value through a Go error return.
type thrown struct{ v *goja.Object }

func (thrown) Error() string { return "javascript error" }
