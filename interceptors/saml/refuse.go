package saml

import (
	"errors"
	"net/http"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// A message idphooks cannot verify or re-sign never reaches the SP in any
// form: the browser gets a page saying the login could not complete. An
// SP trusting only idphooks would refuse the IdP's own signature anyway,
// less clearly; passing it on unchecked would skip the hooks that deny.

// refuse is the 502 page for an upstream message or page idphooks will not
// pass on; the log says why, the page only what happened.
func (i *Interceptor) refuse(msg string, err error) error {
	if errors.Is(err, errNoMetadata) {
		return i.unavailable(err)
	}
	i.log.Error(msg, zap.Error(err))
	return &interception.PageError{Status: http.StatusBadGateway,
		Message: "The sign-in could not be completed: the identity provider's answer was refused. " + msg + ".", Cause: err}
}

// unavailable is the page while the IdP's metadata is out of reach (a
// retry later can succeed with nobody acting), or idphooks' own key is.
func (i *Interceptor) unavailable(err error) error {
	i.logOutage(err)
	return &interception.PageError{Status: http.StatusBadGateway,
		Message: "The sign-in could not be completed right now; please try again in a moment.", Cause: err}
}

// away is unavailable's page without its line, for a queue that could not
// keep a login's event (events.ErrNotQueued) or a state store that cannot
// serve (ErrNameIDsUnavailable): those log their outage once, and a line
// per message would flood the log for as long as they are away.
func away(err error) error {
	return &interception.PageError{Status: http.StatusBadGateway,
		Message: "The sign-in could not be completed right now; please try again in a moment.", Cause: err}
}

// outage remembers the failure last logged, so an IdP whose metadata is
// down for an hour logs about one line a minute (the document cache hands
// every request the same error until it fetches again), not one per page.
type outage struct{ last atomic.Pointer[error] }

func (i *Interceptor) logOutage(err error) {
	old := i.outage.last.Load()
	if old != nil && *old == err {
		return
	}
	if i.outage.last.CompareAndSwap(old, &err) {
		i.log.Error("SAML metadata or signing key unavailable; refusing SAML messages", zap.Error(err))
	}
}

// outageOver logs the end of an outage once.
func (i *Interceptor) outageOver() {
	if old := i.outage.last.Load(); old != nil && i.outage.last.CompareAndSwap(old, nil) {
		i.log.Info("SAML metadata available again")
	}
}
