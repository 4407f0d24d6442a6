package sandbox

import (
	"fmt"

	"github.com/dop251/goja"
)

// maxDetail caps the text a failure carries into logs: a hook could throw
// a megabyte-long message.
const maxDetail = 1024

// describeException renders a thrown value with the place it was thrown.
func describeException(vm *goja.Runtime, ex *goja.Exception) string {
	s := describe(vm, ex.Value())
	for _, f := range ex.Stack() {
		if pos := f.Position(); pos.Filename != "" {
			return fmt.Sprintf("%s (%s:%d:%d)", s, pos.Filename, pos.Line, pos.Column)
		}
	}
	return s
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
