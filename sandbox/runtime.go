package sandbox

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/dop251/goja"
)

// Size caps the prelude puts on built-ins that allocate in one native call.
const (
	maxStringLength = 4 << 20 // characters
	maxArrayLength  = 1 << 20 // elements
)

//go:embed prelude.js
var preludeSource string

var preludeProgram = sync.OnceValues(func() (*goja.Program, error) {
	return goja.Compile("prelude.js", preludeSource, true)
})

// runtime is a pooled goja runtime belonging to one hook. Its globals are
// installed once and frozen; host functions reach the run in progress
// through cur, which is nil between runs.
type runtime struct {
	vm   *goja.Runtime
	hook *Hook
	cur  *call

	api      *goja.Object // last api object built, frozen
	apiShape API          // what it was built from

	objectFreeze goja.Callable
}

// freeze applies Object.freeze.
func (rt *runtime) freeze(o *goja.Object) {
	_, _ = rt.objectFreeze(goja.Undefined(), o)
}

// newRuntime builds a runtime: globals, size guards, then the freeze.
func (h *Hook) newRuntime() (*runtime, error) {
	vm := goja.New()
	vm.SetFieldNameMapper(goja.TagFieldNameMapper("json", true))
	vm.SetMaxCallStackSize(h.engine.opts.MaxCallStackSize)
	rt := &runtime{vm: vm, hook: h}
	rt.objectFreeze, _ = goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("freeze"))
	vm.SetPromiseRejectionTracker(func(p *goja.Promise, op goja.PromiseRejectionOperation) {
		if rt.cur != nil {
			rt.cur.trackRejection(p, op)
		}
	})
	if err := rt.installGlobals(); err != nil {
		return nil, err
	}
	prg, err := preludeProgram()
	if err != nil {
		return nil, fmt.Errorf("sandbox: prelude: %w", err)
	}
	fn, err := vm.RunProgram(prg)
	if err != nil {
		return nil, fmt.Errorf("sandbox: prelude: %w", err)
	}
	lock, _ := goja.AssertFunction(fn)
	if _, err := lock(goja.Undefined(), vm.ToValue(maxStringLength), vm.ToValue(maxArrayLength)); err != nil {
		return nil, fmt.Errorf("sandbox: prelude: %w", err)
	}
	return rt, nil
}

// pool keeps idle runtimes of one hook. A bounded channel rather than a
// sync.Pool: building a frozen runtime costs about a millisecond, too much
// to redo whenever the garbage collector empties a sync.Pool.
type pool chan *runtime

func (h *Hook) getRuntime() (*runtime, error) {
	select {
	case rt := <-h.pool:
		return rt, nil
	default:
		return h.newRuntime()
	}
}

// putRuntime returns a runtime after a clean run. Runtimes that were
// interrupted or failed a limit are dropped instead: their state is
// whatever the hook left mid-way.
func (h *Hook) putRuntime(rt *runtime) {
	rt.cur = nil
	select {
	case h.pool <- rt:
	default:
	}
}
