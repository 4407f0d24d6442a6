package oidc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/idphooks/idphooks/sandbox"
)

// ProtectedClaims cannot be set or removed by a hook unless unlocked in
// config: they carry the token's identity, audience, lifetime and binding,
// which relying parties and the IdP itself depend on.
var ProtectedClaims = []string{
	"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce",
	"acr", "amr", "azp", "at_hash", "c_hash", "s_hash", "sid", "cnf",
	"client_id", "scope", "typ", "act", "may_act", "events", "sub_jwk",
	"token_use", "session_state",
}

// Limits on what a hook may put into a token.
const (
	maxClaimName  = 256
	maxClaimValue = 16 << 10
)

// claimPolicy decides which claim edits a hook may make.
type claimPolicy struct {
	protected map[string]bool
}

func newClaimPolicy(unlocked []string) claimPolicy {
	p := claimPolicy{protected: make(map[string]bool, len(ProtectedClaims))}
	for _, c := range ProtectedClaims {
		p.protected[c] = true
	}
	for _, c := range unlocked {
		delete(p.protected, c)
	}
	return p
}

// check validates one api call on a claim set; its error is thrown into the
// hook where the call was made, so the author sees it in their own stack.
func (p claimPolicy) check(op sandbox.Op) error {
	if op.Object == "" {
		return nil
	}
	if len(op.Args) == 0 {
		return fmt.Errorf("api.%s.%s: claim name required", op.Object, op.Method)
	}
	name, ok := op.Args[0].(string)
	if !ok || name == "" {
		return fmt.Errorf("api.%s.%s: claim name must be a non-empty string", op.Object, op.Method)
	}
	if len(name) > maxClaimName {
		return fmt.Errorf("api.%s.%s: claim name longer than %d bytes", op.Object, op.Method, maxClaimName)
	}
	if p.protected[name] {
		return fmt.Errorf("api.%s.%s: claim %q is protected (unlock it in the idp_hooks config to allow this)", op.Object, op.Method, name)
	}
	if op.Method == "setClaim" {
		if len(op.Args) < 2 {
			return fmt.Errorf("api.%s.setClaim(%q): value required", op.Object, name)
		}
		if err := checkClaimValue(op.Args[1]); err != nil {
			return fmt.Errorf("api.%s.setClaim(%q): %v", op.Object, name, err)
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
		if len(t) > maxClaimValue {
			return fmt.Errorf("value larger than %d bytes", maxClaimValue)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("value is not JSON: %v", err)
	}
	if len(b) > maxClaimValue {
		return fmt.Errorf("value larger than %d bytes", maxClaimValue)
	}
	return nil
}

// claimEdit is one set or remove, kept so the same edits made to an ID token
// can be replayed on the userinfo response of the same grant.
type claimEdit struct {
	Name   string `json:"n"`
	Remove bool   `json:"r,omitempty"`
	Value  any    `json:"v,omitempty"`
}

// editsFor extracts the edits a set of ops makes to one object.
func editsFor(ops []sandbox.Op, object string) []claimEdit {
	var out []claimEdit
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
			out = append(out, claimEdit{Name: name, Value: v})
		case "removeClaim":
			out = append(out, claimEdit{Name: name, Remove: true})
		}
	}
	return out
}

// apply performs edits on claims, skipping protected names a second time
// (defence in depth: the check already refused them in the hook).
func (p claimPolicy) apply(claims map[string]any, edits []claimEdit) bool {
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

// plain turns decoded JSON (with json.Number) into values a hook can read:
// integral numbers become int64, others float64.
func plain(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return i
		}
		f, err := t.Float64()
		if err != nil || math.IsInf(f, 0) {
			return string(t)
		}
		return f
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = plain(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = plain(x)
		}
		return s
	default:
		return v
	}
}

func plainMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return plain(m).(map[string]any)
}
