package sandbox

import (
	"fmt"
	"strings"

	"github.com/dop251/goja"
)

// newSecrets builds the secrets global from the hook's config: a frozen
// object of the declared values whose prototype throws on a name the
// config does not declare. Read as undefined, a missing secret would go
// on silently as an empty header or a null claim; the throw names the
// line to add instead.
//
// The guard is a proxy of Object.prototype in the prototype chain, not
// around the object: a declared secret is an own property, read as fast
// as before, and only a lookup that misses reaches the proxy. There, a
// name Object.prototype has (toString, hasOwnProperty) reads as usual,
// and so do then and toJSON, which await and JSON.stringify look up on
// any object; any other name throws. Probes never reach the trap: "X" in
// secrets, Object.keys, typeof, symbol-keyed reads (Symbol.toPrimitive,
// Symbol.toStringTag: String(), console, JSON). Writes meet the frozen
// object and fail as on the other globals.
func (rt *runtime) newSecrets() *goja.Object {
	vm := rt.vm
	s := vm.NewObject()
	for k, v := range rt.hook.opts.Secrets {
		_ = s.DefineDataProperty(k, vm.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	guard := vm.NewProxy(s.Prototype(), &goja.ProxyTrapConfig{
		Get: func(proto *goja.Object, name string, _ goja.Value) goja.Value {
			// Object.prototype's accessors (__proto__) see proto, not
			// the receiver; none of them tells anything about secrets.
			if v := proto.Get(name); v != nil {
				return v
			}
			if name == "then" || name == "toJSON" {
				return goja.Undefined()
			}
			panic(rt.undeclaredSecret(name))
		},
	})
	_ = s.SetPrototype(vm.ToValue(guard).ToObject(vm))
	rt.freeze(s)
	return s
}

// undeclaredSecret is the TypeError for reading a secret the hook's
// block does not declare, with the line that would declare it when the
// name can be written in a Caddyfile as it is.
func (rt *runtime) undeclaredSecret(name string) *goja.Object {
	ref := "secrets." + name
	if !isIdentifier(name) {
		ref = fmt.Sprintf("secrets[%q]", name)
	}
	msg := ref + " is not declared in the hook's block"
	if name != "" && !strings.ContainsAny(name, " \t\r\n\"'`{}\\#") {
		msg = fmt.Sprintf(`%s is not declared: add "secret %s <value>" to the hook's block`+
			` (or "secret": {%q: "..."} in a test fixture)`, ref, name, name)
	}
	return rt.vm.NewTypeError(truncate(rt.hook.redact(msg), maxDetail))
}

// isIdentifier reports whether name can follow a dot, roughly: ASCII
// letters, digits, _ and $, not starting with a digit.
func isIdentifier(name string) bool {
	for i, r := range name {
		switch {
		case r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return name != ""
}
