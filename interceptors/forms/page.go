package forms

import (
	"fmt"
	"strings"
)

// Selector picks elements of a page the way a CSS compound selector does:
// a tag, an id, classes and attribute values (form#kc-form-login,
// span.kc-feedback-text, .error, form[name=f]), or a group of them
// ("div.message-box.error, div.alert"): an element any of them picks. It
// is all profiles need to say where a page shows its errors.
type Selector struct {
	Tag     string
	ID      string
	Classes []string
	// Attrs are attribute values the element must have, exactly.
	Attrs map[string]string
	// Or is the next selector of a group.
	Or *Selector
}

// ParseSelector reads "tag#id.class[attr=value]", each part may be left
// out, classes and attributes repeated; or a group of them separated by
// commas. A quoted attribute value may hold spaces and commas.
func ParseSelector(s string) (Selector, error) {
	parts, err := splitGroup(s)
	if err != nil {
		return Selector{}, err
	}
	var first Selector
	last := &first
	for i, part := range parts {
		sel, err := parseCompound(part, s)
		if err != nil {
			return Selector{}, err
		}
		if i == 0 {
			first = sel
			continue
		}
		last.Or = &sel
		last = last.Or
	}
	return first, nil
}

// splitGroup cuts s at the commas outside attribute brackets and quotes.
func splitGroup(s string) ([]string, error) {
	var parts []string
	start, inBracket := 0, false
	var quote byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case inBracket && (c == '"' || c == '\''):
			quote = c
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case c == ',' && !inBracket:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	if quote != 0 || inBracket {
		return nil, fmt.Errorf("selector %q: an attribute's brackets or quotes are not closed", s)
	}
	return append(parts, s[start:]), nil
}

// parseCompound reads one "tag#id.class[attr=value]" of whole.
func parseCompound(part, whole string) (Selector, error) {
	var sel Selector
	rest := strings.TrimSpace(part)
	if rest == "" {
		return sel, fmt.Errorf("empty selector in %q", whole)
	}
	bad := func() (Selector, error) {
		return Selector{}, fmt.Errorf("selector %q: only tag#id.class[attr=value] forms, separated by commas, are supported", whole)
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
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				return bad()
			}
			rest = v
			quoted := len(v) > 0 && (v[0] == '"' || v[0] == '\'')
			var end int
			if quoted {
				end = strings.IndexByte(v[1:], v[0]) + 1
				if end == 0 || end+1 >= len(v) || v[end+1] != ']' {
					return bad()
				}
				v, rest = v[1:end], v[end+2:]
			} else {
				if end = strings.IndexByte(v, ']'); end < 0 {
					return bad()
				}
				v, rest = v[:end], v[end+1:]
			}
			if k == "" || strings.ContainsAny(k, " []\\\"'=") || strings.ContainsAny(v, "\\\"'") || (!quoted && strings.ContainsAny(v, " []")) {
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
			return sel, fmt.Errorf("selector %q: empty id or class", whole)
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

// Empty reports a selector that picks every element: one that says
// nothing (a group never does).
func (sel Selector) Empty() bool {
	return sel.Tag == "" && sel.ID == "" && len(sel.Classes) == 0 && len(sel.Attrs) == 0 && sel.Or == nil
}

// MustSelector is ParseSelector for the profiles' own constants.
func MustSelector(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}
