package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/idphooks/idphooks/sandbox"
)

// ProtectedClaims cannot be set or removed by a hook unless unlocked in
// config: they carry the token's identity, audience, lifetime and binding,
// which relying parties and the IdP itself depend on. iss is never
// unlocked (the issuer option is the one way to change it).
var ProtectedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce",
	"acr", "amr", "azp", "at_hash", "c_hash", "s_hash", "sid", "cnf",
	"client_id", "scope", "typ", "act", "may_act", "events", "sub_jwk",
	"token_use", "session_state",
}

// Limits on what a hook may put into a token.
const (
	MaxClaimName  = 256
	MaxClaimValue = 16 << 10
)

// ClaimPolicy decides which claim edits a hook may make. It lives beside
// the catalog so that every interceptor, and the hook workbench, apply the
// same rules.
type ClaimPolicy struct {
	protected map[string]bool
}

// NewClaimPolicy protects ProtectedClaims but those in unlocked.
func NewClaimPolicy(unlocked []string) ClaimPolicy {
	p := ClaimPolicy{protected: make(map[string]bool, len(ProtectedClaims))}
	for _, c := range ProtectedClaims {
		p.protected[c] = true
	}
	for _, c := range unlocked {
		delete(p.protected, c)
	}
	return p
}

// Protected reports whether hooks may not touch claim name.
func (p ClaimPolicy) Protected(name string) bool { return p.protected[name] }

// Check validates one api call on a claim set; its error is thrown into the
// hook where the call was made, so the author sees it in their own stack.
func (p ClaimPolicy) Check(op sandbox.Op) error {
	if op.Object == "" {
		return nil
	}
	// The sandbox prefixes the call's name (api.idToken.setClaim: …).
	if len(op.Args) == 0 {
		return errors.New("claim name required")
	}
	name, ok := op.Args[0].(string)
	if !ok || name == "" {
		return errors.New("claim name must be a non-empty string")
	}
	if len(name) > MaxClaimName {
		return fmt.Errorf("claim name longer than %d bytes", MaxClaimName)
	}
	if p.protected[name] {
		return fmt.Errorf("claim %q is protected (list it in unlock_claims to allow this)", name)
	}
	if op.Method == "setClaim" {
		if len(op.Args) < 2 {
			return fmt.Errorf("claim %q: value required", name)
		}
		if op.Args[1] == nil {
			// undefined and null both arrive as nil: a claim set to
			// nothing is a bug in the hook (an undeclared secret, a
			// missing field), and removeClaim says what null would.
			return fmt.Errorf("claim %q: value is null or undefined (use removeClaim to remove a claim)", name)
		}
		if err := checkClaimValue(op.Args[1]); err != nil {
			return fmt.Errorf("claim %q: %v", name, err)
		}
	}
	return nil
}

// checkClaimValue refuses values that are not JSON or too large. Scalars,
// the common case, are checked without encoding them.
func checkClaimValue(v any) error {
	switch t := v.(type) {
	case nil, bool, int64, int:
		return nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("value %v is not a JSON number", t)
		}
		return nil
	case string:
		if len(t) > MaxClaimValue {
			return fmt.Errorf("value larger than %d bytes", MaxClaimValue)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("value is not JSON: %v", err)
	}
	if len(b) > MaxClaimValue {
		return fmt.Errorf("value larger than %d bytes", MaxClaimValue)
	}
	return nil
}

// ClaimEdit is one set or remove, kept so the same edits made to an ID
// token can be replayed on the userinfo answer of the same grant. Its JSON
// form is stored in swap entries: the names stay short and stable.
type ClaimEdit struct {
	Name   string `json:"n"`
	Remove bool   `json:"r,omitempty"`
	Value  any    `json:"v,omitempty"`
}

// EditsFor extracts the edits a set of ops makes to one api object
// ("idToken", "accessToken", "userinfo").
func EditsFor(ops []sandbox.Op, object string) []ClaimEdit {
	var out []ClaimEdit
	for _, op := range ops {
		if op.Object != object || len(op.Args) == 0 {
			continue
		}
		name, _ := op.Args[0].(string)
		switch op.Method {
		case "setClaim":
			var v any
			if len(op.Args) > 1 {
				v = op.Args[1]
			}
			out = append(out, ClaimEdit{Name: name, Value: v})
		case "removeClaim":
			out = append(out, ClaimEdit{Name: name, Remove: true})
		}
	}
	return out
}

// Apply performs edits on claims, skipping protected names a second time
// (defence in depth: Check already refused them in the hook).
func (p ClaimPolicy) Apply(claims map[string]any, edits []ClaimEdit) bool {
	changed := false
	for _, e := range edits {
		if p.protected[e.Name] {
			continue
		}
		if e.Remove {
			if _, ok := claims[e.Name]; ok {
				delete(claims, e.Name)
				changed = true
			}
			continue
		}
		claims[e.Name] = e.Value
		changed = true
	}
	return changed
}
