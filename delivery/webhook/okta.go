package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/idphooks/idphooks/sandbox"
)

// Okta inline hook command types idphooks understands.
const (
	OktaIdentityPatch  = "com.okta.identity.patch"
	OktaAccessPatch    = "com.okta.access.patch"
	OktaAssertionPatch = "com.okta.assertion.patch"
	OktaProfileUpdate  = "com.okta.user.profile.update"
	OktaActionUpdate   = "com.okta.action.update"
)

type oktaCommand struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type oktaPatch struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

type oktaError struct {
	ErrorSummary string `json:"errorSummary"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

// OktaCommands maps an answer in Okta's inline hook format to api
// operations:
//
//   - com.okta.identity.patch: add/replace /claims/<name> → idToken.setClaim
//     (userinfo.setClaim on before_userinfo), remove → removeClaim;
//   - com.okta.access.patch: the same on accessToken;
//   - com.okta.assertion.patch: add/replace /claims/<name> with Okta's
//     attribute object ({"attributes": {"NameFormat": …}, "attributeValues":
//     [{"value": …}]}) or a string or array of strings →
//     assertion.setAttribute, remove → removeAttribute, replace
//     /subject/nameId → assertion.setNameID;
//   - com.okta.user.profile.update: each field → form.setField (numbers
//     and booleans as their JSON text);
//   - com.okta.action.update: {"registration": "DENY"} → deny,
//     {"credential": "VERIFIED" | "UNVERIFIED"} → accept / reject, ALLOW
//     → nothing;
//   - "error": deny with its errorSummary (reject where the event has no
//     deny); the commands of an answer with an error are not applied, as
//     Okta does not apply them.
//
// Paths are JSON pointers (~1 for /, ~0 for ~). What has no counterpart
// here is an error naming it, so a moved-over service that relied on it
// fails visibly rather than silently: token lifetimes (exp is
// protected), a path inside a claim, one value of a SAML attribute.
func OktaCommands(top map[string]json.RawMessage, api sandbox.API) ([]sandbox.Op, error) {
	if raw, ok := top["error"]; ok && string(raw) != "null" {
		reason, err := oktaErrorSummary(raw)
		if err != nil {
			return nil, err
		}
		method := "deny"
		if !slices.Contains(api.Functions, "deny") && slices.Contains(api.Functions, "reject") {
			method = "reject"
		}
		return []sandbox.Op{{Method: method, Args: []any{reason}}}, nil
	}
	var cmds []oktaCommand
	if raw, ok := top["commands"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &cmds); err != nil {
			return nil, errors.New(`"commands" must be an array of {"type": "com.okta.…", "value": …}`)
		}
	}
	var ops []sandbox.Op
	for i, c := range cmds {
		got, err := oktaCommandOps(c, api)
		if err != nil {
			return nil, fmt.Errorf("command %d (%s): %w", i+1, c.Type, err)
		}
		ops = append(ops, got...)
		if len(ops) > maxOps {
			return nil, fmt.Errorf("the answer asks for more than %d operations", maxOps)
		}
	}
	return ops, nil
}

func oktaErrorSummary(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return orDefault(s), nil
	}
	var e oktaError
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", errors.New(`"error" must be {"errorSummary": "…"}`)
	}
	if e.ErrorSummary != "" {
		return e.ErrorSummary, nil
	}
	for _, c := range e.ErrorCauses {
		if c.ErrorSummary != "" {
			return c.ErrorSummary, nil
		}
	}
	return orDefault(""), nil
}

func orDefault(s string) string {
	if s == "" {
		return "access denied"
	}
	return s
}

func oktaCommandOps(c oktaCommand, api sandbox.API) ([]sandbox.Op, error) {
	switch c.Type {
	case OktaIdentityPatch:
		obj := "idToken"
		if _, ok := api.Objects[obj]; !ok {
			if _, ok := api.Objects["userinfo"]; ok {
				obj = "userinfo"
			}
		}
		return oktaClaimPatches(c.Value, obj)
	case OktaAccessPatch:
		return oktaClaimPatches(c.Value, "accessToken")
	case OktaAssertionPatch:
		return oktaAssertionPatches(c.Value)
	case OktaProfileUpdate:
		return oktaProfileUpdate(c.Value)
	case OktaActionUpdate:
		return oktaActionUpdate(c.Value)
	case "":
		return nil, errors.New(`the command has no "type"`)
	}
	return nil, fmt.Errorf("unknown command type (idphooks maps %s)",
		strings.Join([]string{OktaIdentityPatch, OktaAccessPatch, OktaAssertionPatch, OktaProfileUpdate, OktaActionUpdate}, ", "))
}

func patches(raw json.RawMessage) ([]oktaPatch, error) {
	var ps []oktaPatch
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, errors.New(`"value" must be an array of {"op": "add", "path": "/claims/<name>", "value": …}`)
	}
	return ps, nil
}

// pointer splits a JSON pointer into its unescaped segments.
func pointer(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q is not a JSON pointer (it starts with /)", p)
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs, nil
}

func oktaClaimPatches(raw json.RawMessage, object string) ([]sandbox.Op, error) {
	ps, err := patches(raw)
	if err != nil {
		return nil, err
	}
	ops := make([]sandbox.Op, 0, len(ps))
	for _, p := range ps {
		segs, err := pointer(p.Path)
		if err != nil {
			return nil, err
		}
		switch {
		case len(segs) >= 1 && segs[0] == "token":
			return nil, fmt.Errorf("path %s: token lifetimes are not changed by hooks (exp is protected)", p.Path)
		case segs[0] != "claims" || len(segs) < 2 || segs[1] == "":
			return nil, fmt.Errorf("path %s: want /claims/<name>", p.Path)
		case len(segs) > 2:
			return nil, fmt.Errorf("path %s: a path inside a claim is not supported: set the whole claim at /claims/%s", p.Path, segs[1])
		}
		name := segs[1]
		switch p.Op {
		case "add", "replace":
			if len(p.Value) == 0 {
				return nil, fmt.Errorf("%s %s: no value", p.Op, p.Path)
			}
			v, err := plainJSON(p.Value)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v", p.Op, p.Path, err)
			}
			ops = append(ops, sandbox.Op{Object: object, Method: "setClaim", Args: []any{name, v}})
		case "remove":
			ops = append(ops, sandbox.Op{Object: object, Method: "removeClaim", Args: []any{name}})
		default:
			return nil, fmt.Errorf("path %s: op %q, want add, replace or remove", p.Path, p.Op)
		}
	}
	return ops, nil
}

// oktaAttribute is Okta's JSON form of a SAML Attribute.
type oktaAttribute struct {
	Attributes struct {
		NameFormat string `json:"NameFormat"`
	} `json:"attributes"`
	AttributeValues []struct {
		Value any `json:"value"`
	} `json:"attributeValues"`
}

func oktaAssertionPatches(raw json.RawMessage) ([]sandbox.Op, error) {
	ps, err := patches(raw)
	if err != nil {
		return nil, err
	}
	ops := make([]sandbox.Op, 0, len(ps))
	for _, p := range ps {
		segs, err := pointer(p.Path)
		if err != nil {
			return nil, err
		}
		switch {
		case len(segs) == 2 && segs[0] == "subject" && segs[1] == "nameId":
			if p.Op != "replace" && p.Op != "add" {
				return nil, fmt.Errorf("path %s: op %q, want replace", p.Path, p.Op)
			}
			var v string
			if err := json.Unmarshal(p.Value, &v); err != nil {
				return nil, fmt.Errorf("path %s: the NameID must be a string", p.Path)
			}
			ops = append(ops, sandbox.Op{Object: "assertion", Method: "setNameID", Args: []any{v}})
			continue
		case segs[0] != "claims" || len(segs) < 2 || segs[1] == "":
			return nil, fmt.Errorf("path %s: want /claims/<attribute name> or /subject/nameId", p.Path)
		case len(segs) > 2:
			return nil, fmt.Errorf("path %s: changing part of an attribute is not supported: replace the whole attribute at /claims/%s", p.Path, segs[1])
		}
		name := segs[1]
		switch p.Op {
		case "remove":
			ops = append(ops, sandbox.Op{Object: "assertion", Method: "removeAttribute", Args: []any{name}})
		case "add", "replace":
			values, format, err := attributeValue(p.Value)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %v", p.Op, p.Path, err)
			}
			args := []any{name, values}
			if format != "" {
				args = append(args, map[string]any{"nameFormat": format})
			}
			ops = append(ops, sandbox.Op{Object: "assertion", Method: "setAttribute", Args: args})
		default:
			return nil, fmt.Errorf("path %s: op %q, want add, replace or remove", p.Path, p.Op)
		}
	}
	return ops, nil
}

// attributeValue reads Okta's attribute object, or a plain string or
// array of strings.
func attributeValue(raw json.RawMessage) (values []any, nameFormat string, err error) {
	v, err := plainJSON(raw)
	if err != nil {
		return nil, "", err
	}
	switch t := v.(type) {
	case string:
		return []any{t}, "", nil
	case []any:
		return t, "", nil
	case map[string]any:
		var a oktaAttribute
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, "", fmt.Errorf(`want {"attributes": {"NameFormat": …}, "attributeValues": [{"value": "…"}]}: %v`, err)
		}
		if len(a.AttributeValues) == 0 {
			return nil, "", errors.New(`no "attributeValues" (use remove to remove an attribute)`)
		}
		for _, av := range a.AttributeValues {
			values = append(values, av.Value)
		}
		return values, a.Attributes.NameFormat, nil
	}
	return nil, "", fmt.Errorf("want an attribute object, a string or an array of strings, not %s", string(raw))
}

func oktaProfileUpdate(raw json.RawMessage) ([]sandbox.Op, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, errors.New(`"value" must be an object of profile fields`)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names) // a JSON object has no order; a stable one
	ops := make([]sandbox.Op, 0, len(fields))
	for _, k := range names {
		v, err := plainJSON(fields[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %v", k, err)
		}
		var s string
		switch t := v.(type) {
		case string:
			s = t
		case bool:
			s = strconv.FormatBool(t)
		case int64, float64:
			s = strings.TrimSpace(string(fields[k]))
		case nil:
			ops = append(ops, sandbox.Op{Object: "form", Method: "removeField", Args: []any{k}})
			continue
		default:
			return nil, fmt.Errorf("field %s: a form field takes a string, number or boolean", k)
		}
		ops = append(ops, sandbox.Op{Object: "form", Method: "setField", Args: []any{k, s}})
	}
	return ops, nil
}

func oktaActionUpdate(raw json.RawMessage) ([]sandbox.Op, error) {
	var v map[string]string
	if err := json.Unmarshal(raw, &v); err != nil || len(v) == 0 {
		return nil, errors.New(`"value" must be {"registration": "ALLOW"|"DENY"} or {"credential": "VERIFIED"|"UNVERIFIED"}`)
	}
	var ops []sandbox.Op
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k + "=" + v[k] {
		case "registration=ALLOW":
		case "registration=DENY":
			ops = append(ops, sandbox.Op{Method: "deny", Args: []any{"registration denied"}})
		case "credential=VERIFIED":
			ops = append(ops, sandbox.Op{Method: "accept"})
		case "credential=UNVERIFIED":
			ops = append(ops, sandbox.Op{Method: "reject"})
		default:
			return nil, fmt.Errorf("%s %q is not understood (registration ALLOW/DENY, credential VERIFIED/UNVERIFIED)", k, v[k])
		}
	}
	return ops, nil
}
