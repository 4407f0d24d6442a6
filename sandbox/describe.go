package sandbox

import (
	"fmt"

	"github.com/dop251/goja"
)

// maxDetail caps the text a failure carries into logs: a hook could throw
// a megabyte-long message.
const maxDetail = 1024

// thrownError is the run error for a thrown or rejected value: what it
// was, ending with the innermost place in the hook's files where it arose
// (kept when a long message is cut), and the hook's frames in Stack. site
// is the stack goja caught a synchronous throw with, nil for a rejection.
func (c *call) thrownError(prefix string, v goja.Value, site []goja.StackFrame) error {
	h := c.hook
	fs := c.failureFrames(v, site)
	pos := c.redact(position(fs))
	return &Error{
		Hook:    h.opts.Name,
		Handler: c.inv.Handler,
		Kind:    ErrThrown,
		Detail:  truncate(c.redact(prefix+describe(c.vm, v)), maxDetail-len(pos)) + pos,
		Stack:   c.redact(h.formatStack(fs)),
	}
}

// describe renders any thrown or rejected value. Reading an object can run
// hook code (getters, toString) that may throw again, so it never panics.
func describe(vm *goja.Runtime, v goja.Value) (s string) {
	defer func() {
		if recover() != nil {
			s = "unprintable thrown value"
		}
		// Bound the work, not the text: errorf redacts, then truncates
		// to maxDetail.
		if len(s) > 64*maxDetail {
			s = s[:64*maxDetail]
		}
	}()
	switch {
	case v == nil || goja.IsUndefined(v):
		return "non-Error thrown: undefined"
	case goja.IsNull(v):
		return "non-Error thrown: null"
	}
	obj, ok := v.(*goja.Object)
	if !ok {
		return fmt.Sprintf("non-Error thrown: %s %s", typeOf(v), v.String())
	}
	if obj.ClassName() == "Error" {
		return fmt.Sprintf("%s: %s", obj.Get("name").String(), obj.Get("message").String())
	}
	if b, err := obj.MarshalJSON(); err == nil {
		return "non-Error thrown: " + string(b)
	}
	return "non-Error thrown: " + obj.String()
}

func typeOf(v goja.Value) string {
	switch v.Export().(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	}
	return "value"
}
