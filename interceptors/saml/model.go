package saml

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Status codes (SAML core §3.2.2.2).
const (
	StatusSuccess       = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusResponder     = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	StatusRequestDenied = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"

	AttrNameFormatBasic = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
)

// Model is what a before_saml_assertion hook sees as event.saml. Every
// value is read from the verified elements; when only the Assertion was
// signed, Destination, InResponseTo and Status come from the unsigned
// envelope, exactly as an SP reads them.
type Model struct {
	// Issuer is the Assertion's Issuer (the Response's in an error
	// Response).
	Issuer string `json:"issuer"`
	// Destination is the Response's Destination.
	Destination string `json:"destination,omitempty"`
	// SPEntityID is the first Audience of the AudienceRestriction.
	SPEntityID string `json:"sp_entity_id,omitempty"`
	// Audiences are all Audience values, in document order.
	Audiences []string `json:"audiences,omitempty"`
	// ACSURL is the bearer SubjectConfirmationData Recipient, or the
	// Response Destination without one.
	ACSURL string `json:"acs_url,omitempty"`
	// InResponseTo is the Response's; empty for an IdP-initiated login.
	InResponseTo string `json:"in_response_to,omitempty"`
	// SubjectInResponseTo is SubjectConfirmationData's InResponseTo.
	SubjectInResponseTo string `json:"subject_in_response_to,omitempty"`
	NameID              NameID `json:"name_id"`
	// Attributes maps an attribute Name to its values; Attribute elements
	// of the same Name (Keycloak's multi-valued roles) are merged.
	Attributes           map[string]Attribute `json:"attributes"`
	AuthnContextClassRef string               `json:"authn_context_class_ref,omitempty"`
	SessionIndex         string               `json:"session_index,omitempty"`
	Status               Status               `json:"status"`
	// Signed is where the IdP signed: "response", "assertion" or "both".
	Signed string `json:"signed"`
}

// NameID is the Subject's NameID.
type NameID struct {
	Value           string `json:"value"`
	Format          string `json:"format,omitempty"`
	NameQualifier   string `json:"name_qualifier,omitempty"`
	SPNameQualifier string `json:"sp_name_qualifier,omitempty"`
}

// Attribute is one attribute, all its Attribute elements merged.
type Attribute struct {
	Name         string   `json:"name"`
	NameFormat   string   `json:"name_format,omitempty"`
	FriendlyName string   `json:"friendly_name,omitempty"`
	Values       []string `json:"values"`
}

// Status is the Response's top-level status.
type Status struct {
	Code    string `json:"code"`
	SubCode string `json:"sub_code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Model extracts the hook's view of the Response.
func (r *Response) Model() Model {
	m := Model{
		Destination:  r.root.SelectAttrValue("Destination", ""),
		InResponseTo: r.root.SelectAttrValue("InResponseTo", ""),
		Status:       statusOf(r.root),
		Signed:       r.Signed.String(),
		Attributes:   map[string]Attribute{},
	}
	if is := child(r.root, NSAssertion, "Issuer"); is != nil {
		m.Issuer = text(is)
	}
	m.ACSURL = m.Destination
	a := r.assertion
	if a == nil {
		return m
	}
	if is := child(a, NSAssertion, "Issuer"); is != nil {
		m.Issuer = text(is)
	}
	if sub := child(a, NSAssertion, "Subject"); sub != nil {
		if n := child(sub, NSAssertion, "NameID"); n != nil {
			m.NameID = nameIDOf(n)
		}
		for _, sc := range children(sub, NSAssertion, "SubjectConfirmation") {
			if sc.SelectAttrValue("Method", "") != "urn:oasis:names:tc:SAML:2.0:cm:bearer" {
				continue
			}
			if d := child(sc, NSAssertion, "SubjectConfirmationData"); d != nil {
				if rc := d.SelectAttrValue("Recipient", ""); rc != "" {
					m.ACSURL = rc
				}
				m.SubjectInResponseTo = d.SelectAttrValue("InResponseTo", "")
				break
			}
		}
	}
	if c := child(a, NSAssertion, "Conditions"); c != nil {
		for _, ar := range children(c, NSAssertion, "AudienceRestriction") {
			for _, au := range children(ar, NSAssertion, "Audience") {
				m.Audiences = append(m.Audiences, text(au))
			}
		}
		if len(m.Audiences) > 0 {
			m.SPEntityID = m.Audiences[0]
		}
	}
	if as := child(a, NSAssertion, "AuthnStatement"); as != nil {
		m.SessionIndex = as.SelectAttrValue("SessionIndex", "")
		if ac := child(as, NSAssertion, "AuthnContext"); ac != nil {
			if cr := child(ac, NSAssertion, "AuthnContextClassRef"); cr != nil {
				m.AuthnContextClassRef = text(cr)
			}
		}
	}
	for _, st := range children(a, NSAssertion, "AttributeStatement") {
		for _, at := range children(st, NSAssertion, "Attribute") {
			name := at.SelectAttrValue("Name", "")
			got, seen := m.Attributes[name]
			if !seen {
				got = Attribute{
					Name:         name,
					NameFormat:   at.SelectAttrValue("NameFormat", ""),
					FriendlyName: at.SelectAttrValue("FriendlyName", ""),
					Values:       []string{},
				}
			}
			for _, v := range children(at, NSAssertion, "AttributeValue") {
				got.Values = append(got.Values, text(v))
			}
			m.Attributes[name] = got
		}
	}
	return m
}

// Map is the model as plain data for the sandbox: maps, slices and
// strings, with the JSON names.
func (m Model) Map() map[string]any {
	attrs := make(map[string]any, len(m.Attributes))
	for k, a := range m.Attributes {
		attrs[k] = map[string]any{
			"name": a.Name, "name_format": a.NameFormat, "friendly_name": a.FriendlyName,
			"values": anySlice(a.Values),
		}
	}
	return map[string]any{
		"issuer":                  m.Issuer,
		"destination":             m.Destination,
		"sp_entity_id":            m.SPEntityID,
		"audiences":               anySlice(m.Audiences),
		"acs_url":                 m.ACSURL,
		"in_response_to":          m.InResponseTo,
		"subject_in_response_to":  m.SubjectInResponseTo,
		"name_id":                 map[string]any{"value": m.NameID.Value, "format": m.NameID.Format, "name_qualifier": m.NameID.NameQualifier, "sp_name_qualifier": m.NameID.SPNameQualifier},
		"attributes":              attrs,
		"authn_context_class_ref": m.AuthnContextClassRef,
		"session_index":           m.SessionIndex,
		"status":                  map[string]any{"code": m.Status.Code, "sub_code": m.Status.SubCode, "message": m.Status.Message},
		"signed":                  m.Signed,
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func nameIDOf(n *etree.Element) NameID {
	return NameID{
		Value:           text(n),
		Format:          n.SelectAttrValue("Format", ""),
		NameQualifier:   n.SelectAttrValue("NameQualifier", ""),
		SPNameQualifier: n.SelectAttrValue("SPNameQualifier", ""),
	}
}

func statusOf(root *etree.Element) Status {
	var s Status
	st := child(root, NSProtocol, "Status")
	if st == nil {
		return s
	}
	if c := child(st, NSProtocol, "StatusCode"); c != nil {
		s.Code = c.SelectAttrValue("Value", "")
		if sc := child(c, NSProtocol, "StatusCode"); sc != nil {
			s.SubCode = sc.SelectAttrValue("Value", "")
		}
	}
	if msg := child(st, NSProtocol, "StatusMessage"); msg != nil {
		s.Message = text(msg)
	}
	return s
}

// text is all the character data directly inside el, every run.
func text(el *etree.Element) string {
	var b strings.Builder
	for _, t := range el.Child {
		if cd, ok := t.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String()
}

func children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for c := range elements(el) {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// elements ranges over el's child elements, without the slice
// ChildElements makes on every call (the model and the checks look at
// children thousands of times per response). The body must not add or
// remove children of el.
func elements(el *etree.Element) iter.Seq[*etree.Element] {
	return func(yield func(*etree.Element) bool) {
		for _, t := range el.Child {
			if c, ok := t.(*etree.Element); ok && !yield(c) {
				return
			}
		}
	}
}

// normalizeTypePrefixes makes the prefixes used only inside xsi:type
// values (xs:string) resolve wherever the element lands: canonicalization
// drops their declarations as unused, and a strict SP then cannot resolve
// xs. Such a prefix is signed as an InclusiveNamespaces prefix, which
// every C14N implementation then renders at the same places, and it is
// declared on an element whose xsi:type uses it unless a declaration
// inside its Assertion (or, outside one, its Response) already holds:
// an SP that lifts the Assertion out keeps it, and the IdP's own
// declarations stay where it put them.
func (r *Response) normalizeTypePrefixes(typeNS map[string]string) error {
	pl, err := typePrefixes(r.root, typeNS)
	r.prefixList = pl
	return err
}

// typePrefixes is normalizeTypePrefixes on any signed root (a Response,
// a logout message); it returns the prefixes to sign as inclusive.
func typePrefixes(root *etree.Element, typeNS map[string]string) ([]string, error) {
	if len(typeNS) == 0 {
		return nil, nil
	}
	used := map[string]bool{}
	var walkUsed func(*etree.Element)
	walkUsed = func(el *etree.Element) {
		used[el.Space] = true
		for _, a := range el.Attr {
			if a.Space != "xmlns" && a.Space != "" {
				used[a.Space] = true
			}
		}
		for c := range elements(el) {
			walkUsed(c)
		}
	}
	walkUsed(root)
	var prefixList []string
	for p, uri := range typeNS {
		if used[p] || p == "xml" || p == "xmlns" {
			continue
		}
		if uri == "" {
			if p != "xs" && p != "xsd" {
				return nil, fmt.Errorf("%w: xsi:type prefix %s undeclared", ErrStructure, p)
			}
			uri = NSXS
		}
		declareTypePrefix(root, p, uri, false)
		prefixList = append(prefixList, p)
	}
	slices.Sort(prefixList)
	return prefixList, nil
}

func declareTypePrefix(el *etree.Element, p, uri string, inScope bool) {
	if is(el, NSAssertion, "Assertion") {
		// A signed apex of its own: what its ancestors declare may not
		// travel with it.
		inScope = false
	}
	usesP := false
	for _, a := range el.Attr {
		if a.Key == "type" && a.NamespaceURI() == NSXSI && strings.HasPrefix(a.Value, p+":") {
			usesP = true
		}
	}
	declared := -1
	for i, a := range el.Attr {
		if a.Space == "xmlns" && a.Key == p {
			declared = i
		}
	}
	switch {
	case declared >= 0:
		el.Attr[declared].Value = uri
		inScope = true
	case usesP && !inScope:
		el.CreateAttr("xmlns:"+p, uri)
	}
	for c := range elements(el) {
		declareTypePrefix(c, p, uri, inScope)
	}
}
