package events

import (
	"strings"
	"testing"

	"github.com/idphooks/idphooks/sandbox"
)

func TestAssertionPolicyCheck(t *testing.T) {
	p := NewAssertionPolicy([]string{"tenant"})
	bad := []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"tenant", "x"}},
		{Object: "assertion", Method: "removeAttribute", Args: []any{"tenant"}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"", "x"}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a"}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", nil}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", []any{"x", 3.0}}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", "bad\x00"}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", "x", map[string]any{"bogus": "y"}}},
		{Object: "assertion", Method: "setNameID", Args: []any{""}},
		{Object: "assertion", Method: "setNameID", Args: []any{"x", 5.0}},
		{Object: "assertion", Method: "setIssuer", Args: []any{"x"}},
	}
	for _, op := range bad {
		err := p.Check(op)
		if err == nil {
			t.Errorf("%v accepted", op)
		} else if strings.HasPrefix(err.Error(), "api.") {
			t.Errorf("%v: error carries the api prefix: %v", op, err)
		}
	}
	good := []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", "x"}},
		{Object: "assertion", Method: "setAttribute", Args: []any{"a", []string{"x", "y"}, map[string]any{"nameFormat": "urn:x", "friendlyName": "A"}}},
		{Object: "assertion", Method: "removeAttribute", Args: []any{"a"}},
		{Object: "assertion", Method: "setNameID", Args: []any{"bob", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}},
		{Object: "idToken", Method: "setClaim", Args: []any{"iss", "x"}},
	}
	for _, op := range good {
		if err := p.Check(op); err != nil {
			t.Errorf("%v refused: %v", op, err)
		}
	}
	e, err := p.Edit(sandbox.Op{Object: "assertion", Method: "setAttribute", Args: []any{"a", []any{"x", "y"}, map[string]any{"nameFormat": "urn:x"}}})
	if err != nil || e.Name != "a" || len(e.Values) != 2 || e.NameFormat != "urn:x" {
		t.Fatalf("edit %+v %v", e, err)
	}
}
