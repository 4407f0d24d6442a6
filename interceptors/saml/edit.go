package saml

import (
	"fmt"
	"slices"

	"github.com/beevik/etree"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// Apply performs the assertion ops of a hook run, checked and read by the
// policy again (defence in depth: the sandbox already threw on refused
// calls). It reports whether anything changed; the Response must be
// re-signed either way.
func (r *Response) Apply(p events.AssertionPolicy, ops []sandbox.Op) (changed bool, err error) {
	for _, op := range ops {
		if op.Object != events.AssertionObject {
			continue
		}
		e, err := p.Edit(op)
		if err != nil {
			return changed, fmt.Errorf("%w: %s: %v", ErrProtected, op.Method, err)
		}
		if r.assertion == nil {
			return changed, fmt.Errorf("%w: no assertion to edit", ErrStructure)
		}
		switch e.Method {
		case "setAttribute":
			r.SetAttribute(e.Name, e.Values, e.NameFormat, e.FriendlyName)
		case "removeAttribute":
			r.RemoveAttribute(e.Name)
		case "setNameID":
			if err := r.SetNameID(e.NameID, e.Format); err != nil {
				return changed, err
			}
		}
		changed = true
	}
	return changed, nil
}

// SetAttribute replaces every Attribute element called name with one
// holding values. nameFormat and friendlyName default to those of the
// replaced attribute (NewAttributeFormat, else basic, for a new one). The new elements
// use the prefix the Assertion uses; each AttributeValue is an xs:string
// declaring its own xs and xsi, as Keycloak writes them.
func (r *Response) SetAttribute(name string, values []string, nameFormat, friendlyName string) {
	a := r.assertion
	var stmt *etree.Element
	var replaced []*etree.Element
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
			replaced = append(replaced, el)
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
			nameFormat = r.NewAttributeFormat
		}
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
	// An attribute that came encrypted leaves encrypted, whatever a hook
	// made of it.
	for _, old := range replaced {
		r.parts.replace(old, el)
	}
	if !slices.Contains(r.prefixList, "xs") && !r.prefixUsed("xs") {
		// xs now appears in values only: declared where used, signed as
		// inclusive, and nowhere above (see normalizeTypePrefixes).
		r.prefixList = append(r.prefixList, "xs")
		slices.Sort(r.prefixList)
		declareTypePrefix(r.root, "xs", NSXS, false)
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
