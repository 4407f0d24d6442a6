package sandbox

import (
	"encoding/json"

	"github.com/dop251/goja"
)

// toJS copies plain Go data into fresh JavaScript objects. Handing goja the
// Go map itself would let one hook's writes reach the caller and the next
// hook, so nothing is shared.
func toJS(vm *goja.Runtime, v any) goja.Value {
	switch v := v.(type) {
	case nil:
		return goja.Null()
	case string, bool, float64, float32, int, int64, int32, uint, uint64, uint32:
		return vm.ToValue(v)
	case json.Number:
		// Claims decoded with UseNumber: integral ones as integers.
		if i, err := v.Int64(); err == nil {
			return vm.ToValue(i)
		}
		if f, err := v.Float64(); err == nil {
			return vm.ToValue(f)
		}
		return vm.ToValue(string(v))
	case map[string]any:
		obj := vm.NewObject()
		for k, e := range v {
			_ = obj.Set(k, toJS(vm, e))
		}
		return obj
	case []any:
		items := make([]any, len(v))
		for i, e := range v {
			items[i] = toJS(vm, e)
		}
		return vm.NewArray(items...)
	case map[string]string:
		obj := vm.NewObject()
		for k, e := range v {
			_ = obj.Set(k, e)
		}
		return obj
	case []string:
		items := make([]any, len(v))
		for i, e := range v {
			items[i] = e
		}
		return vm.NewArray(items...)
	}
	// Anything else (structs, typed maps) goes through JSON, so the hook
	// sees the same names the JSON API uses and never a live Go value.
	b, err := json.Marshal(v)
	if err != nil {
		return goja.Undefined()
	}
	var plain any
	if err := json.Unmarshal(b, &plain); err != nil {
		return goja.Undefined()
	}
	return toJS(vm, plain)
}
