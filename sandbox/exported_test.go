package sandbox

import (
	"reflect"
	"testing"
)

func TestExportedListsEveryName(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []Export
		handlers  []string
	}{
		{"misspelt handler", `exports.onBeforToken = async () => {};`,
			[]Export{{Name: "onBeforToken", Function: true}}, []string{"onBeforToken"}},
		{"not a function", `exports.onBeforeToken = 42; exports.helper = () => {};`,
			[]Export{{Name: "helper", Function: true}, {Name: "onBeforeToken"}}, []string{"helper"}},
		{"empty file", ``, nil, nil},
		{"module.exports object", `module.exports = { onBeforeToken() {}, tier: "gold" };`,
			[]Export{{Name: "onBeforeToken", Function: true}, {Name: "tier"}}, []string{"onBeforeToken"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHook(t, Options{}, HookOptions{}, tc.src)
			if got := h.Exported(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Exported() = %+v, want %+v", got, tc.want)
			}
			if got := h.Handlers(); !reflect.DeepEqual(got, tc.handlers) {
				t.Errorf("Handlers() = %v, want %v", got, tc.handlers)
			}
			if h.Exports("onBeforeToken") != (tc.name == "module.exports object") {
				t.Errorf("Exports(onBeforeToken) = %v", h.Exports("onBeforeToken"))
			}
		})
	}
	// The list is the caller's to keep.
	h := mustHook(t, Options{}, HookOptions{}, `exports.a = 1;`)
	h.Exported()[0].Name = "b"
	if h.Exported()[0].Name != "a" {
		t.Fatal("Exported shares its slice")
	}
}
