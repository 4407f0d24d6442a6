package forms

import (
	"fmt"
	"strings"
)

// Selector picks elements of a page the way a CSS compound selector does:
// a tag, an id, classes and attribute values (form#kc-form-login,
// span.kc-feedback-text, .error, form[name=f]). It is all profiles need
// to say where a page shows its errors.
type Selector struct {
	Tag     string
	ID      string
	Classes []string
	// Attrs are attribute values the element must have, exactly.
	Attrs map[string]string
}

// ParseSelector reads "tag#id.class[attr=value]"; each part may be left
// out, classes and attributes repeated.
func ParseSelector(s string) (Selector, error) {
	var sel Selector
	rest := strings.TrimSpace(s)
	if rest == "" {
		return sel, fmt.Errorf("empty selector")
	}
	bad := func() (Selector, error) {
		return Selector{}, fmt.Errorf("selector %q: only tag#id.class[attr=value] forms are supported", s)
	}
	take := func() string {
		n := strings.IndexAny(rest, "#.[")
		if n < 0 {
			n = len(rest)
		}
		part := rest[:n]
		rest = rest[n:]
		return part
	}
	sel.Tag = strings.ToLower(take())
	for rest != "" {
		kind := rest[0]
		rest = rest[1:]
		if kind == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return bad()
			}
			k, v, ok := strings.Cut(rest[:end], "=")
			rest = rest[end+1:]
			if v = strings.Trim(v, `"'`); !ok || k == "" || strings.ContainsAny(k+v, " []\\\"'") {
				return bad()
			}
			if sel.Attrs == nil {
				sel.Attrs = map[string]string{}
			}
			sel.Attrs[strings.ToLower(k)] = v
			continue
		}
		part := take()
		if part == "" {
			return sel, fmt.Errorf("selector %q: empty id or class", s)
		}
		if kind == '#' {
			sel.ID = part
		} else {
			sel.Classes = append(sel.Classes, part)
		}
	}
	if strings.ContainsAny(sel.Tag+sel.ID+strings.Join(sel.Classes, ""), " >+~[]:*,") {
		return bad()
	}
	return sel, nil
}

// Empty reports a selector that picks every element.
func (sel Selector) Empty() bool {
	return sel.Tag == "" && sel.ID == "" && len(sel.Classes) == 0 && len(sel.Attrs) == 0
}

// MustSelector is ParseSelector for the profiles' own constants.
func MustSelector(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}
