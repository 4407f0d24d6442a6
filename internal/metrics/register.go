// Package metrics holds what idphooks' collectors share: their
// registration with the registry Caddy gives each config.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg. Caddy registers again on every config
// reload: when reg already holds a collector of that name, Register
// returns it in c's place if it is c itself or adopt allows taking it;
// otherwise the conflict is an error.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C, adopt bool) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok && (adopt || any(existing) == any(c)) {
			return existing, nil
		}
	}
	return c, err
}
