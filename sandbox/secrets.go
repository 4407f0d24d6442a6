package sandbox

import "github.com/dop251/goja"

// newSecrets builds the frozen secrets global from the hook's config.
func (c *call) newSecrets() *goja.Object {
	s := c.vm.NewObject()
	for k, v := range c.hook.opts.Secrets {
		_ = s.DefineDataProperty(k, c.vm.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	_ = s.SetPrototype(nil)
	return s
}
