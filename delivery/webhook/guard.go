package webhook

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/idphooks/idphooks/events"
)

// ErrSecretEvent is wrapped by the refusal of an event that carries a
// password (events.Spec.Secret): such events never reach a webhook.
var ErrSecretEvent = errors.New("the event carries a password and is never sent to a webhook")

// CheckEvents is the config-time check of a webhook's events: each must
// be in the catalog, none may carry a password, and there must be at
// least one. The Caddy module calls it when it provisions a webhook.
func CheckEvents(ids []string) error {
	if len(ids) == 0 {
		return errors.New("a webhook needs at least one event (events after_login …)")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		spec, ok := events.Lookup(id)
		if !ok {
			known := events.IDs()
			sort.Strings(known)
			return fmt.Errorf("unknown event %q (the events are: %s)", id, strings.Join(known, ", "))
		}
		if spec.Secret {
			return fmt.Errorf("event %s: %w (use a JS hook for it, e.g. for lazy migration)", id, ErrSecretEvent)
		}
		if seen[id] {
			return fmt.Errorf("event %s is listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

// refuseSecret is the runtime guard behind CheckEvents.
func refuseSecret(id string) error {
	if spec, ok := events.Lookup(id); ok && spec.Secret {
		return fmt.Errorf("event %s: %w", id, ErrSecretEvent)
	}
	return nil
}
