package secevent

import "fmt"

// Subject formats (RFC 9493) a receiver may ask for.
const (
	// SubjectIssSub names the user by the issuer clients see and the
	// user's sub: stable, what the user's ID tokens say.
	SubjectIssSub = "iss_sub"
	// SubjectEmail names the user by email address when the event knows
	// one the IdP marked verified (email_verified true); else iss_sub.
	SubjectEmail = "email"
)

// CheckSubject accepts a configured subject format; "" is iss_sub.
func CheckSubject(f string) error {
	switch f {
	case "", SubjectIssSub, SubjectEmail:
		return nil
	}
	return fmt.Errorf("subject must be %s or %s, not %q", SubjectIssSub, SubjectEmail, f)
}

// userSubject is the user's sub_id in format (iss_sub unless email is
// asked for and known), or nil when the event names no user.
func userSubject(format, issuer string, user map[string]any) map[string]any {
	sub, _ := user["sub"].(string)
	email, _ := user["email"].(string)
	if v := user["email_verified"]; v != true && v != "true" {
		// An address the IdP has not verified may be anyone's: the
		// receiver would act on another account. Only a verified one
		// counts: an IdP that says nothing (Entra ID never does, and
		// lets users set an address) may hold one a user just typed in,
		// and some (Cognito) say "false" as a string.
		email = ""
	}
	switch {
	case format == SubjectEmail && email != "":
		return map[string]any{"format": "email", "email": email}
	case sub != "":
		return map[string]any{"format": "iss_sub", "iss": issuer, "sub": sub}
	case email != "":
		return map[string]any{"format": "email", "email": email}
	}
	return nil
}

// sessionSubject is the complex subject (SSF 1.0) of one session of a
// user: CAEP's session-revoked then revokes that session, not every one
// of the user's.
func sessionSubject(user map[string]any, sid string) map[string]any {
	return map[string]any{
		"format":  "complex",
		"user":    user,
		"session": map[string]any{"format": "opaque", "id": sid},
	}
}
