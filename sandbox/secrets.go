package sandbox

import "github.com/dop251/goja"

// newSecrets builds the secrets global from the hook's config. It is
// frozen with the other globals, so hooks can read but never change it.
func (rt *runtime) newSecrets() *goja.Object {
	s := rt.vm.NewObject()
	for k, v := range rt.hook.opts.Secrets {
		_ = s.DefineDataProperty(k, rt.vm.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	return s
}
