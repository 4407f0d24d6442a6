package forms

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/idphooks/idphooks/sandbox"
)

// ErrUserExists is Directory.Create's answer for a user the IdP has.
var ErrUserExists = errors.New("the IdP already has this user")

// InvalidCredentials is shown when a hook rejects a password without a
// reason of its own.
const InvalidCredentials = "Invalid username or password."

// newUserFields are what api.accept({...}) may say of the user to create.
var newUserFields = map[string]bool{"username": true, "email": true, "first_name": true, "last_name": true, "attributes": true}

// checkAccept validates accept and reject while the hook runs.
func checkAccept(op sandbox.Op) error {
	if op.Object != "" {
		return nil
	}
	switch op.Method {
	case "reject":
		if len(op.Args) > 0 && op.Args[0] != nil {
			if _, ok := op.Args[0].(string); !ok {
				return errors.New("the reason must be a string")
			}
		}
	case "accept":
		if len(op.Args) == 0 || op.Args[0] == nil {
			return nil
		}
		_, err := acceptedUser(op.Args[0])
		return err
	}
	return nil
}

// accepted is what api.accept(user) said of the user to create.
type accepted struct {
	username, email, firstName, lastName string
	attributes                           map[string][]string
}

func acceptedUser(arg any) (accepted, error) {
	var a accepted
	m, ok := arg.(map[string]any)
	if !ok {
		return a, errors.New("accept takes an object: {username, email, first_name, last_name, attributes}")
	}
	for k, v := range m {
		if !newUserFields[k] {
			return a, fmt.Errorf("accept: unknown field %q (use username, email, first_name, last_name, attributes)", k)
		}
		if k == "attributes" {
			attrs, err := attributeValues(v)
			if err != nil {
				return a, err
			}
			a.attributes = attrs
			continue
		}
		s, ok := v.(string)
		if !ok || len(s) > 255 {
			return a, fmt.Errorf("accept: %s must be a string of at most 255 characters", k)
		}
		switch k {
		case "username":
			a.username = s
		case "email":
			a.email = s
		case "first_name":
			a.firstName = s
		case "last_name":
			a.lastName = s
		}
	}
	return a, nil
}

func attributeValues(v any) (map[string][]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("accept: attributes must be an object of strings or string arrays")
	}
	out := make(map[string][]string, len(m))
	for name, val := range m {
		switch t := val.(type) {
		case string:
			out[name] = []string{t}
		case []any:
			for _, e := range t {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("accept: attribute %q: values must be strings", name)
				}
				out[name] = append(out[name], s)
			}
		default:
			return nil, fmt.Errorf("accept: attribute %q: values must be strings", name)
		}
	}
	return out, nil
}

// verdict reads what before_password_validation hooks decided: the last
// accept or reject stands.
func verdict(ops []sandbox.Op) (ok, rejected bool, reason string, user accepted) {
	for _, op := range ops {
		if op.Object != "" {
			continue
		}
		switch op.Method {
		case "accept":
			ok, rejected, reason = true, false, ""
			user = accepted{}
			if len(op.Args) > 0 && op.Args[0] != nil {
				user, _ = acceptedUser(op.Args[0])
			}
		case "reject":
			ok, rejected, reason = false, true, ""
			if len(op.Args) > 0 {
				reason, _ = op.Args[0].(string)
			}
		}
	}
	return ok, rejected, reason, user
}

// user is the user to create for identifier.
func (a accepted) user(identifier, password string) NewUser {
	u := NewUser{Username: a.username, Password: password, Email: a.email,
		FirstName: a.firstName, LastName: a.lastName, Attributes: a.attributes}
	if u.Username == "" {
		u.Username = identifier
	}
	if u.Email == "" && strings.Contains(identifier, "@") {
		u.Email = identifier
	}
	return u
}

// knownUsers remembers for a while the identifiers the IdP knows, so that
// its users' logins ask its user store once, not every time.
type knownUsers struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const (
	knownFor  = 10 * time.Minute
	knownKeep = 100_000
)

func (k *knownUsers) has(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.m[strings.ToLower(id)]
	return ok && time.Since(t) < knownFor
}

func (k *knownUsers) add(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= knownKeep {
		// Forgetting is safe: the store is asked again.
		k.m = make(map[string]time.Time)
	}
	k.m[strings.ToLower(id)] = time.Now()
}
