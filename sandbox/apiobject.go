package sandbox

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// Limits on what a hook hands back through the api object. Op arguments
// end up in tokens and assertions, so they are bounded like any input.
const (
	maxOpBytes = 256 << 10 // all args of all ops of one run
	maxOps     = 1000
	maxDepth   = 32
)

// api returns the api object of this run. Building it costs more than the
// rest of a trivial run, so each runtime keeps the last one, frozen, and
// reuses it while runs describe the same shape; its methods find the run
// through rt.call.
func (c *call) api() *goja.Object {
	rt := c.rt
	if rt.api != nil && sameShape(rt.apiShape, c.inv.API) {
		return rt.api
	}
	api := c.vm.NewObject()
	// Everything reachable from the reused api object is frozen, the
	// method functions too: a property a hook hung on one would be there
	// for the next call.
	method := func(object, name string) goja.Value {
		fn := c.vm.ToValue(rt.apiMethod(object, name))
		rt.freeze(fn.ToObject(c.vm))
		return fn
	}
	for name, methods := range c.inv.API.Objects {
		o := c.vm.NewObject()
		for _, m := range methods {
			_ = o.Set(m, method(name, m))
		}
		rt.freeze(o)
		_ = api.Set(name, o)
	}
	for _, f := range c.inv.API.Functions {
		_ = api.Set(f, method("", f))
	}
	rt.freeze(api)
	rt.api, rt.apiShape = api, c.inv.API
	return api
}

// sameShape reports whether two API descriptions name the same objects,
// methods and functions.
func sameShape(a, b API) bool {
	if len(a.Objects) != len(b.Objects) || !slices.Equal(a.Functions, b.Functions) {
		return false
	}
	for name, ms := range a.Objects {
		if bs, ok := b.Objects[name]; !ok || !slices.Equal(ms, bs) {
			return false
		}
	}
	return true
}

func (rt *runtime) apiMethod(object, method string) func(goja.FunctionCall) goja.Value {
	name := "api." + method
	if object != "" {
		name = "api." + object + "." + method
	}
	return func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		args := make([]any, len(fc.Arguments))
		for i, a := range fc.Arguments {
			v, n, err := plain(a.Export(), 0)
			if err != nil {
				panic(c.vm.NewTypeError(fmt.Sprintf("%s: argument %d: %v", name, i+1, err)))
			}
			args[i] = v
			c.opBytes += n
		}
		if c.opBytes > maxOpBytes || len(c.ops) >= maxOps {
			c.abortf(ErrLimit, "api calls exceed %d ops or %d bytes", maxOps, maxOpBytes)
			return goja.Undefined()
		}
		op := Op{Object: object, Method: method, Args: args}
		if check := c.inv.API.Check; check != nil {
			if err := check(op); err != nil {
				panic(c.vm.NewTypeError(c.redact(checkMessage(name, err))))
			}
		}
		c.ops = append(c.ops, op)
		return goja.Undefined()
	}
}

// checkMessage is the message of the TypeError a failed Check throws:
// prefixed with the method, once, even when the check's own text already
// starts with it.
func checkMessage(name string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, name+":") {
		return msg
	}
	return name + ": " + msg
}

// plain checks that an exported value is plain data and returns it with a
// rough size in bytes.
func plain(v any, depth int) (any, int, error) {
	if depth > maxDepth {
		return nil, 0, fmt.Errorf("nested deeper than %d", maxDepth)
	}
	switch v := v.(type) {
	case nil, bool, int64, float64:
		return v, 8, nil
	case string:
		return v, len(v), nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), 32, nil
	case []any:
		size := 0
		for i, e := range v {
			p, n, err := plain(e, depth+1)
			if err != nil {
				return nil, 0, err
			}
			v[i] = p
			size += n + 1
		}
		return v, size, nil
	case map[string]any:
		size := 0
		for k, e := range v {
			p, n, err := plain(e, depth+1)
			if err != nil {
				return nil, 0, err
			}
			v[k] = p
			size += n + len(k) + 2
		}
		return v, size, nil
	}
	return nil, 0, fmt.Errorf("%T is not plain data", v)
}
