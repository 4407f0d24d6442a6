package events

import (
	"strings"
	"testing"

	"github.com/idphooks/idphooks/sandbox"
)

// The sandbox prefixes the call's name; the policy's errors must not, or
// the author reads api.idToken.setClaim: api.idToken.setClaim: ….
func TestClaimPolicyErrorsCarryNoPrefix(t *testing.T) {
	p := NewClaimPolicy(nil)
	for _, op := range []sandbox.Op{
		{Object: "idToken", Method: "setClaim", Args: []any{"sub", "x"}},
		{Object: "idToken", Method: "setClaim"},
		{Object: "idToken", Method: "setClaim", Args: []any{"tier"}},
		{Object: "idToken", Method: "removeClaim", Args: []any{""}},
	} {
		err := p.Check(op)
		if err == nil || strings.Contains(err.Error(), "api.") {
			t.Errorf("%v: %v", op, err)
		}
	}
	if err := p.Check(sandbox.Op{Object: "idToken", Method: "setClaim", Args: []any{"sub", "x"}}); !strings.Contains(err.Error(), "unlock_claims") {
		t.Errorf("the error should name the setting that unlocks: %v", err)
	}
	if err := NewClaimPolicy([]string{"sub"}).Check(sandbox.Op{Object: "idToken", Method: "setClaim", Args: []any{"sub", "x"}}); err != nil {
		t.Errorf("unlocked sub refused: %v", err)
	}
}

// An undefined value (an undeclared secret, a missing field) is refused
// where the hook makes the call, instead of becoming a null claim.
func TestSetClaimRefusesNullAndUndefined(t *testing.T) {
	err := NewClaimPolicy(nil).Check(sandbox.Op{Object: "idToken", Method: "setClaim", Args: []any{"crm", nil}})
	if err == nil || !strings.Contains(err.Error(), "null or undefined") {
		t.Fatalf("err %v", err)
	}
}
