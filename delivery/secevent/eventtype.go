package secevent

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idphooks/idphooks/events"
)

// Event type URIs of CAEP 1.0, RISC 1.0 and SSF 1.0.
const (
	SessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	CredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	AccountPurged    = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	AccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	Verification     = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// TestEvent is the event type of the admin API's send-test message; a
// Sender sends it as an SSF verification event.
const TestEvent = "idphooks.test"

// types maps the events of the catalog that have a Shared Signals
// meaning to their event type. after_mfa_change is a credential-change
// of the factor it names (CAEP requires credential_type).
var types = map[string]string{
	events.AfterLogout:          SessionRevoked,
	events.AfterPasswordReset:   CredentialChange,
	events.AfterMFAChange:       CredentialChange,
	events.AfterAccountDeletion: AccountPurged,
}

// EventType is the event type URI a catalog event is sent as.
func EventType(event string) (string, bool) {
	t, ok := types[event]
	return t, ok
}

// Events are the catalog's events that have a Shared Signals meaning,
// sorted: what a receiver subscribes to when it names none.
func Events() []string {
	ids := make([]string, 0, len(types))
	for id := range types {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// CheckEvents is the config-time check of a receiver's events: each must
// have a Shared Signals meaning, none listed twice. An empty list is
// fine (the caller subscribes to Events then).
func CheckEvents(ids []string) error {
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := types[id]; !ok {
			if _, known := events.Lookup(id); known {
				return fmt.Errorf("event %s has no Shared Signals (CAEP or RISC) meaning; these have: %s", id, strings.Join(Events(), ", "))
			}
			return fmt.Errorf("unknown event %q (the events with a Shared Signals meaning are: %s)", id, strings.Join(Events(), ", "))
		}
		if seen[id] {
			return fmt.Errorf("event %s is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// errNoSubject is the failure of an event that names no user: a SET
// without a subject would tell the receiver nothing it could act on.
var errNoSubject = errors.New("the event names no user (no sub, no email)")
