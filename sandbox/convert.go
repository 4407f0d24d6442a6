package sandbox

import (
	"encoding/json"
	"slices"

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

// lazyEvent is the hook's event object: its top-level members are copied
// into JavaScript only when the hook first reads them, so a hook that reads
// event.user.sub pays for event.user alone (copying the whole event was a
// tenth of a rewritten token answer's cost through Caddy). Members are
// still fresh copies per run, writes and deletes stay in this object, and
// its keys come in a stable (sorted) order, so JSON.stringify(event) reads
// the same every time.
type lazyEvent struct {
	vm      *goja.Runtime
	src     map[string]any
	vals    map[string]goja.Value
	deleted map[string]bool
	extra   []string // keys the hook added
}

func newLazyEvent(vm *goja.Runtime, src map[string]any) goja.Value {
	if src == nil {
		return goja.Null()
	}
	return vm.NewDynamicObject(&lazyEvent{vm: vm, src: src, vals: make(map[string]goja.Value, 4)})
}

func (l *lazyEvent) Get(key string) goja.Value {
	if l.deleted[key] {
		return nil
	}
	if v, ok := l.vals[key]; ok {
		return v
	}
	x, ok := l.src[key]
	if !ok {
		return nil
	}
	v := toJS(l.vm, x)
	l.vals[key] = v
	return v
}

func (l *lazyEvent) Set(key string, val goja.Value) bool {
	if _, ok := l.src[key]; !ok {
		if _, ok := l.vals[key]; !ok {
			l.extra = append(l.extra, key)
		}
	}
	delete(l.deleted, key)
	l.vals[key] = val
	return true
}

func (l *lazyEvent) Has(key string) bool {
	if l.deleted[key] {
		return false
	}
	if _, ok := l.vals[key]; ok {
		return true
	}
	_, ok := l.src[key]
	return ok
}

func (l *lazyEvent) Delete(key string) bool {
	if l.deleted == nil {
		l.deleted = map[string]bool{}
	}
	l.deleted[key] = true
	delete(l.vals, key)
	return true
}

func (l *lazyEvent) Keys() []string {
	keys := make([]string, 0, len(l.src)+len(l.extra))
	for k := range l.src {
		if !l.deleted[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range l.extra {
		if !l.deleted[k] {
			keys = append(keys, k)
		}
	}
	return keys
}
