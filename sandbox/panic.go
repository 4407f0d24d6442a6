package sandbox

import (
	"fmt"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/dop251/goja"
)

// recovered is the run error for a Go panic under the run. goja's own
// throws escape as panics where Go code reads a hook's object (a throwing
// getter on exports): those are the hook's failure like any other.
// Anything else is a bug in the sandbox or a host function: the run fails
// with the panic value and, in Stack, the Go calls that led to it. It is
// not logged here: the caller logs the failure once (see Runner), and that
// one line carries all a bug report needs.
func (c *call) recovered(x any) error {
	switch x := x.(type) {
	case *goja.Exception:
		return c.fail(x)
	case *goja.InterruptedError:
		return c.fail(x)
	case *goja.StackOverflowError:
		return c.fail(x)
	}
	e := c.errorf(ErrThrown, "internal error in the sandbox: %v", x).(*Error)
	e.Stack = truncate(c.redact(goStack()), maxStack)
	return e
}

// goStack renders the Go calls that led to the panic being recovered,
// innermost first, as "at fn (file:line)". goja recovers and re-panics
// on its way up, so the stack holds a chain of runtime.gopanic frames:
// the first call below the last of them is where the panic began.
func goStack() string {
	var pcs [256]uintptr
	frames := goruntime.CallersFrames(pcs[:goruntime.Callers(2, pcs[:])])
	var all []goruntime.Frame
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			all = all[:0]
		} else if !strings.HasPrefix(f.Function, "runtime.") {
			all = append(all, f)
		}
		if !more {
			break
		}
	}
	var b strings.Builder
	for i, f := range all[:min(len(all), maxFrames)] {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "at %s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
	}
	return b.String()
}
