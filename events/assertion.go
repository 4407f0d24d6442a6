package events

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/idphooks/idphooks/sandbox"
)

// ProtectedSAMLElements are the parts of an assertion no hook can reach: the
// api has no call that touches them, and Apply never writes them. They
// carry who issued it, for whom, until when and for which request.
var ProtectedSAMLElements = []string{
	"Issuer", "Conditions", "Conditions/@NotBefore", "Conditions/@NotOnOrAfter",
	"AudienceRestriction/Audience",
	"SubjectConfirmationData/@Recipient", "SubjectConfirmationData/@InResponseTo",
	"SubjectConfirmationData/@NotOnOrAfter", "SubjectConfirmationData/@NotBefore",
	"AuthnStatement/@AuthnInstant", "AuthnStatement/@SessionNotOnOrAfter",
	"AuthnStatement/@SessionIndex",
}

// AssertionObject is the sandbox object of the before_saml_assertion api.
const AssertionObject = "assertion"

// Limits on what a hook may put into an assertion.
const (
	MaxAttributeName  = 256
	MaxAttributeValue = 16 << 10
	MaxValues         = 256
)

// AssertionPolicy decides which assertion edits a hook may make, as
// ClaimPolicy does for claims: every interceptor and the workbench apply
// the same rules. Config may protect attribute names besides
// ProtectedSAMLElements (which are never editable).
type AssertionPolicy struct {
	protected map[string]bool
}

// NewAssertionPolicy protects the named attributes from hooks.
func NewAssertionPolicy(protectedAttributes []string) AssertionPolicy {
	p := AssertionPolicy{protected: make(map[string]bool, len(protectedAttributes))}
	for _, n := range protectedAttributes {
		p.protected[n] = true
	}
	return p
}

// Protected reports whether hooks may not touch attribute name.
func (p AssertionPolicy) Protected(name string) bool { return p.protected[name] }

// Check validates one api.assertion call; its error is thrown into the
// hook at the call (the sandbox prefixes the call's name).
func (p AssertionPolicy) Check(op sandbox.Op) error {
	if op.Object != AssertionObject {
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
		if err := XMLText(v, MaxAttributeValue); err != nil {
			return fmt.Errorf("NameID: %v", err)
		}
		if len(op.Args) > 1 && op.Args[1] != nil {
			f, ok := op.Args[1].(string)
			if !ok {
				return errors.New("NameID format must be a string")
			}
			if err := XMLText(f, MaxAttributeName); err != nil {
				return fmt.Errorf("NameID format: %v", err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown method %s", op.Method)
}

func (p AssertionPolicy) attrName(args []any) (string, error) {
	if len(args) == 0 {
		return "", errors.New("attribute name required")
	}
	name, ok := args[0].(string)
	if !ok || name == "" {
		return "", errors.New("attribute name must be a non-empty string")
	}
	if err := XMLText(name, MaxAttributeName); err != nil {
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
		if err := XMLText(s, MaxAttributeValue); err != nil {
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
		if err := XMLText(s, MaxAttributeName); err != nil {
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

// XMLText refuses what XML 1.0 cannot carry, and oversized strings.
func XMLText(s string, max int) error {
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

// AssertionEdit is one checked api.assertion call, its arguments read.
type AssertionEdit struct {
	Method string // setAttribute, removeAttribute or setNameID
	// Name is the attribute's Name (setAttribute, removeAttribute).
	Name   string
	Values []string
	// NameFormat and FriendlyName are setAttribute's options ("" keeps
	// the replaced attribute's).
	NameFormat, FriendlyName string
	// NameID and Format are setNameID's.
	NameID, Format string
}

// Edit checks op and returns it read, for the interceptor that writes it.
func (p AssertionPolicy) Edit(op sandbox.Op) (AssertionEdit, error) {
	if err := p.Check(op); err != nil {
		return AssertionEdit{}, err
	}
	e := AssertionEdit{Method: op.Method}
	switch op.Method {
	case "setAttribute":
		e.Name = op.Args[0].(string)
		e.Values, _ = attrValues(op.Args[1])
		if len(op.Args) > 2 && op.Args[2] != nil {
			e.NameFormat, e.FriendlyName, _ = attrOptions(op.Args[2])
		}
	case "removeAttribute":
		e.Name = op.Args[0].(string)
	case "setNameID":
		e.NameID = op.Args[0].(string)
		if len(op.Args) > 1 && op.Args[1] != nil {
			e.Format = op.Args[1].(string)
		}
	}
	return e, nil
}
