package sandbox

import (
	"fmt"
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

// newAPI builds the api object of one run from its description.
func (c *call) newAPI() *goja.Object {
	api := c.vm.NewObject()
	for name, methods := range c.inv.API.Objects {
		o := c.vm.NewObject()
		for _, m := range methods {
			_ = o.Set(m, c.apiMethod(name, m))
		}
		_ = api.Set(name, o)
	}
	for _, f := range c.inv.API.Functions {
		_ = api.Set(f, c.apiMethod("", f))
	}
	return api
}

func (c *call) apiMethod(object, method string) func(goja.FunctionCall) goja.Value {
	name := "api." + method
	if object != "" {
		name = "api." + object + "." + method
	}
	return func(fc goja.FunctionCall) goja.Value {
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
				panic(c.vm.NewTypeError(c.hook.redact(fmt.Sprintf("%s: %v", name, err))))
			}
		}
		c.ops = append(c.ops, op)
		return goja.Undefined()
	}
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
