package forms

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"

	"github.com/idphooks/idphooks/sandbox"
)

// Limits on what a hook may put into a form.
const (
	maxFieldName  = 256
	maxFieldValue = 16 << 10
)

// checkField validates api.form.setField and removeField while the hook
// runs: secrets are neither set nor removed (a hook choosing the
// password would be a password nobody typed).
func checkField(p *post, op sandbox.Op) error {
	if op.Object != "form" {
		return nil
	}
	if len(op.Args) == 0 {
		return errors.New("a field name is required")
	}
	name, ok := op.Args[0].(string)
	if !ok || name == "" || len(name) > maxFieldName {
		return fmt.Errorf("the field name must be a string of 1 to %d characters", maxFieldName)
	}
	if p.secret(name) {
		return fmt.Errorf("field %q holds a password: hooks may not set or remove it", name)
	}
	if op.Method == "setField" {
		if len(op.Args) < 2 {
			return errors.New("a value is required")
		}
		v, ok := op.Args[1].(string)
		if !ok {
			return errors.New("the value must be a string")
		}
		if len(v) > maxFieldValue {
			return fmt.Errorf("the value is over %d bytes", maxFieldValue)
		}
	}
	return nil
}

// editForm applies the hooks' field edits to the post's body: fields keep
// their order and their bytes as the browser encoded them, a set field
// takes its new value in place, a new one is added at the end.
func editForm(p *post, ops []sandbox.Op) ([]byte, bool) {
	set := map[string]string{}
	var order []string
	removed := map[string]bool{}
	for _, op := range ops {
		if op.Object != "form" || len(op.Args) == 0 {
			continue
		}
		name, _ := op.Args[0].(string)
		switch op.Method {
		case "setField":
			v, _ := op.Args[1].(string)
			if _, ok := set[name]; !ok {
				order = append(order, name)
			}
			set[name] = v
			delete(removed, name)
		case "removeField":
			removed[name] = true
			delete(set, name)
		}
	}
	if len(set) == 0 && len(removed) == 0 {
		return p.raw, false
	}
	var out bytes.Buffer
	done := map[string]bool{}
	write := func(pair string) {
		if out.Len() > 0 {
			out.WriteByte('&')
		}
		out.WriteString(pair)
	}
	for pair := range bytes.SplitSeq(p.raw, []byte("&")) {
		if len(pair) == 0 {
			continue
		}
		k, _, _ := bytes.Cut(pair, []byte("="))
		name, err := url.QueryUnescape(string(k))
		if err == nil && p.php {
			name, err = phpName(name)
		}
		if err != nil {
			// readPost parsed the body: this cannot happen.
			write(string(pair))
			continue
		}
		switch v, ok := set[name]; {
		case removed[name]:
		case ok:
			if !done[name] {
				write(url.QueryEscape(name) + "=" + url.QueryEscape(v))
				done[name] = true
			}
		default:
			write(string(pair))
		}
	}
	for _, name := range order {
		if v, ok := set[name]; ok && !done[name] {
			write(url.QueryEscape(name) + "=" + url.QueryEscape(v))
		}
	}
	for name, v := range set {
		p.values.Set(name, v)
	}
	for name := range removed {
		p.values.Del(name)
	}
	return out.Bytes(), true
}
