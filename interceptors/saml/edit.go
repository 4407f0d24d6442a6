package saml

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/idphooks/idphooks/sandbox"
)

// ProtectedElements are the parts of an assertion no hook can reach: the
// api has no call that touches them, and Apply never writes them. They
// carry who issued it, for whom, until when and for which request.
var ProtectedElements = []string{
	"Issuer", "Conditions", "Conditions/@NotBefore", "Conditions/@NotOnOrAfter",
	"AudienceRestriction/Audience",
	"SubjectConfirmationData/@Recipient", "SubjectConfirmationData/@InResponseTo",
	"SubjectConfirmationData/@NotOnOrAfter", "SubjectConfirmationData/@NotBefore",
	"AuthnStatement/@AuthnInstant", "AuthnStatement/@SessionNotOnOrAfter",
	"AuthnStatement/@SessionIndex",
}

// APIObject is the sandbox object of the assertion api.
const APIObject = "assertion"

// Limits on what a hook may put into an assertion.
const (
	MaxAttributeName  = 256
	MaxAttributeValue = 16 << 10
	MaxValues         = 256
)

// Policy decides which assertion edits a hook may make. Config may
// protect attribute names besides ProtectedElements (which are never
// editable).
type Policy struct {
	protected map[string]bool
}

// NewPolicy protects the named attributes from hooks.
func NewPolicy(protectedAttributes []string) Policy {
	p := Policy{protected: make(map[string]bool, len(protectedAttributes))}
	for _, n := range protectedAttributes {
		p.protected[n] = true
	}
	return p
}

// Protected reports whether hooks may not touch attribute name.
func (p Policy) Protected(name string) bool { return p.protected[name] }

// Check validates one api.assertion call; its error is thrown into the
// hook at the call (the sandbox prefixes the call's name).
func (p Policy) Check(op sandbox.Op) error {
	if op.Object != APIObject {
		return nil
	}
	switch op.Method {
	case "setAttribute", "removeAttribute":
		name, err := p.attrName(op.Args)
		if err != nil {
			return err
		}
		if op.Method == "removeAttribute" {
			return nil
		}
		if len(op.Args) < 2 || op.Args[1] == nil {
			return fmt.Errorf("attribute %q: values required (a string or an array of strings; use removeAttribute to remove it)", name)
		}
		if _, err := attrValues(op.Args[1]); err != nil {
			return fmt.Errorf("attribute %q: %v", name, err)
		}
		if len(op.Args) > 2 && op.Args[2] != nil {
			if _, _, err := attrOptions(op.Args[2]); err != nil {
				return fmt.Errorf("attribute %q: %v", name, err)
			}
		}
		return nil
	case "setNameID":
		if len(op.Args) == 0 {
			return errors.New("NameID value required")
		}
		v, ok := op.Args[0].(string)
		if !ok || v == "" {
			return errors.New("NameID value must be a non-empty string")
		}
		if err := xmlText(v, MaxAttributeValue); err != nil {
			return fmt.Errorf("NameID: %v", err)
		}
		if len(op.Args) > 1 && op.Args[1] != nil {
			f, ok := op.Args[1].(string)
			if !ok {
				return errors.New("NameID format must be a string")
			}
			if err := xmlText(f, MaxAttributeName); err != nil {
				return fmt.Errorf("NameID format: %v", err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown method %s", op.Method)
}

func (p Policy) attrName(args []any) (string, error) {
	if len(args) == 0 {
		return "", errors.New("attribute name required")
	}
	name, ok := args[0].(string)
	if !ok || name == "" {
		return "", errors.New("attribute name must be a non-empty string")
	}
	if err := xmlText(name, MaxAttributeName); err != nil {
		return "", fmt.Errorf("attribute name: %v", err)
	}
	if p.protected[name] {
		return "", fmt.Errorf("attribute %q is protected", name)
	}
	return name, nil
}

// attrValues reads a string or an array of strings, as goja exports them.
func attrValues(v any) ([]string, error) {
	var out []string
	switch t := v.(type) {
	case string:
		out = []string{t}
	case []string:
		out = t
	case []any:
		out = make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("values must be strings, not %T", e)
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("values must be a string or an array of strings, not %T", v)
	}
	if len(out) > MaxValues {
		return nil, fmt.Errorf("more than %d values", MaxValues)
	}
	for _, s := range out {
		if err := xmlText(s, MaxAttributeValue); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// attrOptions reads {nameFormat, friendlyName}.
func attrOptions(v any) (nameFormat, friendlyName string, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", "", fmt.Errorf("options must be an object, not %T", v)
	}
	for k, val := range m {
		s, ok := val.(string)
		if !ok && val != nil {
			return "", "", fmt.Errorf("option %s must be a string", k)
		}
		if err := xmlText(s, MaxAttributeName); err != nil {
			return "", "", fmt.Errorf("option %s: %v", k, err)
		}
		switch k {
		case "nameFormat":
			nameFormat = s
		case "friendlyName":
			friendlyName = s
		default:
			return "", "", fmt.Errorf("unknown option %s (nameFormat, friendlyName)", k)
		}
	}
	return nameFormat, friendlyName, nil
}

// xmlText refuses what XML 1.0 cannot carry, and oversized strings.
func xmlText(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return fmt.Errorf("character %U not allowed in XML", r)
		}
	}
	return nil
}

// Apply performs the assertion ops of a hook run, checking each again
// (defence in depth: the sandbox already threw on refused calls). It
// reports whether anything changed; the Response must be re-signed
// either way.
func (r *Response) Apply(p Policy, ops []sandbox.Op) (changed bool, err error) {
	for _, op := range ops {
		if op.Object != APIObject {
			continue
		}
		if err := p.Check(op); err != nil {
			return changed, fmt.Errorf("%w: %s: %v", ErrProtected, op.Method, err)
		}
		if r.assertion == nil {
			return changed, fmt.Errorf("%w: no assertion to edit", ErrStructure)
		}
		switch op.Method {
		case "setAttribute":
			vals, _ := attrValues(op.Args[1])
			var nf, fn string
			if len(op.Args) > 2 && op.Args[2] != nil {
				nf, fn, _ = attrOptions(op.Args[2])
			}
			r.SetAttribute(op.Args[0].(string), vals, nf, fn)
		case "removeAttribute":
			r.RemoveAttribute(op.Args[0].(string))
		case "setNameID":
			var f string
			if len(op.Args) > 1 && op.Args[1] != nil {
				f = op.Args[1].(string)
			}
			if err := r.SetNameID(op.Args[0].(string), f); err != nil {
				return changed, err
			}
		}
		changed = true
	}
	return changed, nil
}

// SetAttribute replaces every Attribute element called name with one
// holding values. nameFormat and friendlyName default to those of the
// replaced attribute (basic NameFormat for a new one). The new elements
// use the prefix the Assertion uses; each AttributeValue is an xs:string
// declaring its own xs and xsi, as Keycloak writes them.
func (r *Response) SetAttribute(name string, values []string, nameFormat, friendlyName string) {
	a := r.assertion
	var stmt *etree.Element
	at := -1
	for _, st := range children(a, NSAssertion, "AttributeStatement") {
		for _, el := range children(st, NSAssertion, "Attribute") {
			if el.SelectAttrValue("Name", "") != name {
				continue
			}
			if stmt == nil {
				stmt, at = st, el.Index()
				if nameFormat == "" {
					nameFormat = el.SelectAttrValue("NameFormat", "")
				}
				if friendlyName == "" {
					friendlyName = el.SelectAttrValue("FriendlyName", "")
				}
			}
			st.RemoveChild(el)
		}
	}
	if stmt == nil {
		stmt = child(a, NSAssertion, "AttributeStatement")
		if stmt == nil {
			stmt = etree.NewElement("AttributeStatement")
			stmt.Space = a.Space
			a.AddChild(stmt)
		}
		at = len(stmt.Child)
		if nameFormat == "" {
			nameFormat = AttrNameFormatBasic
		}
	}
	el := etree.NewElement("Attribute")
	el.Space = a.Space
	if friendlyName != "" {
		el.CreateAttr("FriendlyName", friendlyName)
	}
	el.CreateAttr("Name", name)
	if nameFormat != "" {
		el.CreateAttr("NameFormat", nameFormat)
	}
	for _, v := range values {
		av := el.CreateElement("AttributeValue")
		av.Space = a.Space
		av.CreateAttr("xmlns:xs", NSXS)
		av.CreateAttr("xmlns:xsi", NSXSI)
		av.CreateAttr("xsi:type", "xs:string")
		av.SetText(v)
	}
	stmt.InsertChildAt(at, el)
	if !slices.Contains(r.prefixList, "xs") && !r.prefixUsed("xs") {
		// xs now appears in values only: declared where used, signed as
		// inclusive, and nowhere above (see normalizeTypePrefixes).
		r.prefixList = append(r.prefixList, "xs")
		slices.Sort(r.prefixList)
		r.declareTypePrefix(r.root, "xs", NSXS)
	}
}

// prefixUsed reports whether prefix names an element or attribute.
func (r *Response) prefixUsed(prefix string) bool {
	var used func(*etree.Element) bool
	used = func(el *etree.Element) bool {
		if el.Space == prefix {
			return true
		}
		for _, a := range el.Attr {
			if a.Space == prefix {
				return true
			}
		}
		return slices.ContainsFunc(el.ChildElements(), used)
	}
	return used(r.root)
}

// RemoveAttribute removes every Attribute element called name, and an
// AttributeStatement left empty (the schema wants at least one).
func (r *Response) RemoveAttribute(name string) {
	for _, st := range children(r.assertion, NSAssertion, "AttributeStatement") {
		for _, el := range children(st, NSAssertion, "Attribute") {
			if el.SelectAttrValue("Name", "") == name {
				st.RemoveChild(el)
			}
		}
		if len(st.ChildElements()) == 0 {
			r.assertion.RemoveChild(st)
		}
	}
}

// SetNameID sets the Subject's NameID value and, when format is not
// empty, its Format; the qualifiers stay.
func (r *Response) SetNameID(value, format string) error {
	sub := child(r.assertion, NSAssertion, "Subject")
	var n *etree.Element
	if sub != nil {
		n = child(sub, NSAssertion, "NameID")
	}
	if n == nil {
		return fmt.Errorf("%w: the assertion has no NameID", ErrStructure)
	}
	for _, c := range slices.Clone(n.Child) {
		n.RemoveChild(c)
	}
	n.SetText(value)
	if format != "" {
		n.CreateAttr("Format", format)
	}
	return nil
}
