package sandbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dop251/goja"
)

// call is one run of one hook: a runtime, the ops recorded so far and the
// little event loop that brings async host work (fetch, cache) back onto
// the runtime's goroutine.
type call struct {
	ctx  context.Context
	hook *Hook
	inv  Invocation
	vm   *goja.Runtime

	ops     []Op
	opBytes int
	logged  int // console lines written

	// jobs carries the completions of async host work; pending counts the
	// work started and not yet completed. Both belong to the run goroutine
	// except the channel sends.
	jobs    chan func() error
	pending int

	// rejected holds promises rejected with no handler attached yet; any
	// left when the handler settles fail the run.
	rejected []*goja.Promise

	// abort is set by host code that stops the run with an uncatchable
	// interrupt (limits); it wins over the InterruptedError goja returns.
	abort error

	stopInterrupt func() bool
}

func (h *Hook) newCall(ctx context.Context, inv Invocation) *call {
	c := &call{ctx: ctx, hook: h, inv: inv, jobs: make(chan func() error, 8)}
	c.vm = h.engine.newRuntime()
	c.vm.SetPromiseRejectionTracker(c.trackRejection)
	c.installGlobals()
	// Interrupt stops JavaScript only; host functions watch ctx themselves.
	c.stopInterrupt = context.AfterFunc(ctx, func() { c.vm.Interrupt(errInterruptDeadline) })
	return c
}

var errInterruptDeadline = errors.New("deadline")

func (c *call) close() {
	c.stopInterrupt()
}

func (e *Engine) newRuntime() *goja.Runtime {
	vm := goja.New()
	vm.SetFieldNameMapper(goja.TagFieldNameMapper("json", true))
	vm.SetMaxCallStackSize(e.opts.MaxCallStackSize)
	return vm
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
	if _, err := body(exports, exports, goja.Undefined(), module,
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
	event := toJS(c.vm, c.inv.Event)
	api := c.newAPI()
	ret, err := handler(goja.Undefined(), event, api)
	if err != nil {
		return c.fail(err)
	}
	if err := c.settle(ret); err != nil {
		return err
	}
	if len(c.rejected) > 0 {
		return c.errorf(ErrThrown, "unhandled promise rejection: %s",
			describe(c.vm, c.rejected[0].Result()))
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
		c.forget(p)
		return c.errorf(ErrThrown, "%s", describe(c.vm, p.Result()))
	}
	return nil
}

// forget drops p from the unhandled rejections: the run already reports it.
func (c *call) forget(p *goja.Promise) {
	c.trackRejection(p, goja.PromiseRejectionHandle)
}

// async starts work off the runtime goroutine and returns the promise it
// settles. work must honour ctx; its result is converted on the loop.
func (c *call) async(work func(ctx context.Context) (func() (goja.Value, error), error)) goja.Value {
	p, resolve, reject := c.vm.NewPromise()
	c.pending++
	go func() {
		done, err := work(c.ctx)
		job := func() error {
			if err != nil {
				return reject(c.vm.NewGoError(c.hook.redactErr(err)))
			}
			v, err := done()
			if err != nil {
				return reject(c.jsError(err))
			}
			return resolve(v)
		}
		select {
		case c.jobs <- job:
		case <-c.ctx.Done():
		}
	}()
	return c.vm.ToValue(p)
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
		return c.deadlineError()
	}
	var overflow *goja.StackOverflowError
	if errors.As(err, &overflow) {
		return c.errorf(ErrLimit, "maximum call stack size exceeded")
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return c.errorf(ErrThrown, "%s", describeException(c.vm, ex))
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
		Detail:  c.hook.redact(fmt.Sprintf(format, args...)),
	}
}

// jsError is the JavaScript value thrown for a host error.
func (c *call) jsError(err error) goja.Value {
	return c.vm.NewGoError(c.hook.redactErr(err))
}
