package oidc

import (
	"errors"
	"net/http"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
)

// An upstream idphooks cannot use is answered 502, failing closed: no
// answer may slip past a hook that would deny it. The body is an OAuth
// error (RFC 6749 §5.2 shape; the codes are §4.1.2.1's, which IdPs use at
// every endpoint), and its code tells a client whether a retry can help:
//
//   - temporarily_unavailable: idphooks lacks the IdP's own documents
//     (discovery, keys): the IdP could not be reached or served them
//     unusable. idphooks refetches them by itself, so the same request can
//     succeed seconds later with nobody acting.
//   - server_error: the IdP's answer to this very request is unusable (not
//     JSON, too large, a token that does not verify); a retry would likely
//     meet the same answer.
//
// A 503 temporarily_unavailable is idphooks' own part failing (the state
// store, signing; see serveToken): there the IdP is not at fault.

// badGateway is the 502 for an upstream answer idphooks cannot use: the
// description names the problem, never the upstream's data. c, when not
// nil, is that answer: its CORS headers are kept, so a browser client can
// read the error. A cause that is the IdP's documents being out of reach
// (the keys to verify the answer with) is docsUnavailable's answer.
func (i *Interceptor) badGateway(w http.ResponseWriter, c *interception.Capture, msg string, err error) error {
	if c != nil {
		interception.KeepCORS(w, c.Header())
	}
	var de *docError
	if errors.As(err, &de) {
		return i.docsUnavailable(de)
	}
	i.log.Error(msg, zap.Error(err))
	return &interception.Error{Status: http.StatusBadGateway, Code: "server_error", Description: msg, Cause: err}
}

// docsUnavailable is the 502 while the IdP's discovery document or keys
// are out of reach.
func (i *Interceptor) docsUnavailable(de *docError) error {
	i.logOutage(de)
	return &interception.Error{
		Status:      http.StatusBadGateway,
		Code:        "temporarily_unavailable",
		Description: "identity provider " + de.doc + " unavailable",
		Cause:       de,
	}
}

// outages are the failed fetches last logged, per document.
type outages struct{ discovery, keys atomic.Pointer[docError] }

func (o *outages) of(doc string) *atomic.Pointer[docError] {
	if doc == "keys" {
		return &o.keys
	}
	return &o.discovery
}

// logOutage logs a failed fetch of the IdP's documents once, however many
// requests it turns away: the caches hand every request the same error
// until they fetch again, which their backoff spaces out (2 s, 4 s, … then
// once a minute): an IdP down for an hour logs about one line a minute,
// not one per request.
func (i *Interceptor) logOutage(de *docError) {
	last := i.outages.of(de.doc)
	old := last.Load()
	if old == de || !last.CompareAndSwap(old, de) {
		return
	}
	msg := "upstream discovery unavailable; refusing traffic"
	if de.doc == "keys" {
		msg = "upstream keys unavailable; token answers hooks need are refused, the JWKS served holds idphooks' keys only"
	}
	i.log.Error(msg, zap.Error(de))
}

// outageOver logs, once, that a document logged as unavailable is in hand
// again.
func (i *Interceptor) outageOver(doc string) {
	last := i.outages.of(doc)
	if old := last.Load(); old != nil && last.CompareAndSwap(old, nil) {
		i.log.Info("upstream " + doc + " available again")
	}
}
