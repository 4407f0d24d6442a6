package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/idphooks/idphooks/sandbox"
)

// maxOps bounds the operations of one answer.
const maxOps = 256

// ParseAnswer turns an enrich receiver's answer body into api operations
// for an event whose api is api. The format is told by the keys of the
// JSON object: "ops" is idphooks' own, "commands" or "error" Okta's
// inline hook commands (see OktaCommands). An empty body or {} asks for
// nothing. Every operation must be one api offers, and passes api.Check
// (protected claims…); the first that does not fails the whole answer,
// as a hook's failed run applies none of its calls.
func ParseAnswer(body []byte, api sandbox.API) ([]sandbox.Op, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	var top map[string]json.RawMessage
	if err := strictUnmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("the answer is not a JSON object: %v", err)
	}
	_, hasOps := top["ops"]
	_, hasCommands := top["commands"]
	_, hasError := top["error"]
	var ops []sandbox.Op
	var err error
	switch {
	case hasOps && (hasCommands || hasError):
		return nil, errors.New(`the answer has both "ops" (idphooks' format) and "commands"/"error" (Okta's): use one`)
	case hasOps:
		ops, err = ownOps(top["ops"])
	case hasCommands || hasError:
		ops, err = OktaCommands(top, api)
	default:
		var keys []string
		for k := range top {
			if k != "debugContext" { // Okta's, informational
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			sort.Strings(keys)
			return nil, fmt.Errorf(`the answer has none of "ops", "commands", "error" (it has %s): see the enrich answer formats`, strings.Join(keys, ", "))
		}
	}
	if err != nil {
		return nil, err
	}
	if len(ops) > maxOps {
		return nil, fmt.Errorf("the answer asks for %d operations, more than %d", len(ops), maxOps)
	}
	for i, op := range ops {
		if err := checkOp(api, op); err != nil {
			return ops[:i], fmt.Errorf("operation %d (%s): %w", i+1, opName(op), err)
		}
	}
	return ops, nil
}

// ownOp is one operation in idphooks' format.
type ownOp struct {
	Op     string            `json:"op"`
	Object string            `json:"object"`
	Method string            `json:"method"`
	Args   []json.RawMessage `json:"args"`
}

func ownOps(raw json.RawMessage) ([]sandbox.Op, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New(`"ops" must be an array of {"op": "idToken.setClaim", "args": […]}`)
	}
	if len(list) > maxOps {
		return nil, fmt.Errorf("the answer asks for %d operations, more than %d", len(list), maxOps)
	}
	ops := make([]sandbox.Op, 0, len(list))
	for i, r := range list {
		var o ownOp
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf(`operation %d: want {"op": "<object>.<method>", "args": […]}: %v`, i+1, err)
		}
		op := sandbox.Op{Object: o.Object, Method: o.Method}
		switch {
		case o.Op != "" && (o.Object != "" || o.Method != ""):
			return nil, fmt.Errorf(`operation %d: give "op" or "object"/"method", not both`, i+1)
		case o.Op != "":
			name := strings.TrimPrefix(o.Op, "api.")
			if obj, m, ok := strings.Cut(name, "."); ok {
				op.Object, op.Method = obj, m
			} else {
				op.Method = name
			}
		case o.Method == "":
			return nil, fmt.Errorf(`operation %d: no "op"`, i+1)
		}
		op.Args = make([]any, 0, len(o.Args))
		for _, a := range o.Args {
			v, err := plainJSON(a)
			if err != nil {
				return nil, fmt.Errorf("operation %d: %v", i+1, err)
			}
			op.Args = append(op.Args, v)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// checkOp refuses an operation the event's api does not offer, then asks
// api.Check, as the sandbox does for a hook's call.
func checkOp(api sandbox.API, op sandbox.Op) error {
	if op.Object == "" {
		if !slices.Contains(api.Functions, op.Method) {
			return fmt.Errorf("not available on this event (it offers %s)", offered(api))
		}
	} else if !slices.Contains(api.Objects[op.Object], op.Method) {
		return fmt.Errorf("not available on this event (it offers %s)", offered(api))
	}
	if api.Check != nil {
		return api.Check(op)
	}
	return nil
}

// offered lists what an api holds, for an error.
func offered(api sandbox.API) string {
	var names []string
	for obj, ms := range api.Objects {
		for _, m := range ms {
			names = append(names, obj+"."+m)
		}
	}
	names = append(names, api.Functions...)
	if len(names) == 0 {
		return "nothing: it is told, not asked"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func opName(op sandbox.Op) string {
	if op.Object == "" {
		return op.Method
	}
	return op.Object + "." + op.Method
}

// strictUnmarshal decodes one JSON value and nothing after it.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// plainJSON decodes a value to what the sandbox exports a hook's
// arguments as: integers as int64, other numbers as float64, so the
// checks behind api.Check see the same types from both.
func plainJSON(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return plainValue(v)
}

func plainValue(v any) (any, error) {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i, nil
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("number %s out of range", t)
		}
		return f, nil
	case []any:
		for i := range t {
			var err error
			if t[i], err = plainValue(t[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range t {
			var err error
			if t[k], err = plainValue(t[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}
