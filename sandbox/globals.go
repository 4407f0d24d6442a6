package sandbox

import "github.com/dop251/goja"

// installGlobals puts the hook globals on a new runtime. They are built
// once per runtime and find the run in progress through rt.call.
func (rt *runtime) installGlobals() error {
	g := rt.vm.GlobalObject()
	for name, v := range map[string]any{
		"console": rt.newConsole(),
		"secrets": rt.newSecrets(),
		"require": rt.require,
		"fetch":   rt.fetch,
		"cache":   rt.newCache(),
		"crypto":  rt.newCrypto(),
	} {
		if err := g.Set(name, v); err != nil {
			return err
		}
	}
	return nil
}

// call returns the run in progress. A host function kept by a hook and
// called outside any run (it cannot be, with frozen globals, but a bug
// could allow it) throws instead of touching a finished run.
func (rt *runtime) call() *call {
	if rt.cur == nil {
		panic(rt.vm.NewTypeError("sandbox: called outside a hook run"))
	}
	return rt.cur
}

// argString returns argument i as a string, throwing a TypeError naming fn
// when it is missing or not a string.
func (c *call) argString(fc goja.FunctionCall, i int, fn string) string {
	v := fc.Argument(i)
	s, ok := v.Export().(string)
	if !ok {
		panic(c.typeError("%s: argument %d must be a string", fn, i+1))
	}
	return s
}
