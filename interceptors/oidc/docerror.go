package oidc

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/upstream"
)

// docError is a discovery document or key set idphooks could not get or
// use, told for whoever runs Caddy: which document, where, what is wrong
// and what to check. The caches keep it as their last error, so the
// requests one failed fetch turns away all share this one value.
type docError struct {
	doc  string // "discovery" or "keys"
	url  string
	err  error
	hint string // what to check, a question
}

func (e *docError) Error() string {
	why := e.err.Error()
	var fe *upstream.FetchError
	if errors.As(e.err, &fe) {
		why = fe.Reason() // its own text repeats the URL
	}
	if e.hint == "" {
		return e.doc + " at " + e.url + ": " + why
	}
	return e.doc + " at " + e.url + ": " + why + " — " + e.hint
}

func (e *docError) Unwrap() error { return e.err }

// fetchHint says what to check after a failed fetch: the network's hint
// when the IdP could not be reached, else what its status or the size
// cap suggests.
func (u *Upstream) fetchHint(err error, status func(int) string) string {
	var fe *upstream.FetchError
	if !errors.As(err, &fe) {
		return ""
	}
	switch {
	case fe.Hint() != "":
		return fe.Hint()
	case fe.Status != 0:
		return status(fe.Status)
	case errors.Is(err, interception.ErrTooLarge):
		return fmt.Sprintf("is max_body (%d bytes) large enough for it?", u.Client.MaxBody())
	}
	return "is the IdP healthy? Its own log may say more."
}

// discoveryStatusHint says what a status other than 200 at discovery
// suggests checking.
func discoveryStatusHint(status int) string {
	switch {
	case status == http.StatusNotFound:
		return "is upstream the IdP's issuer URL (Keycloak: http://host:8080/realms/<realm>)? idphooks appends /.well-known/openid-configuration to it."
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "does the IdP, or a proxy in front of it, refuse requests from Caddy?"
	case status >= 500:
		return "is the IdP healthy, or still starting? Its own log may say more."
	}
	return "is upstream the IdP's issuer URL?"
}

// objectStart checks that body is, at first sight, a JSON object, and
// names what it is instead: an HTML page is the usual wrong answer (a
// login page, a proxy's error page).
func objectStart(body []byte) error {
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		return errors.New("empty answer, not a JSON object")
	case b[0] == '<':
		return errors.New("an HTML page, not a JSON object")
	case b[0] != '{':
		return errors.New("not a JSON object")
	}
	return nil
}

// keysStatusHint is discoveryStatusHint for the key set.
func keysStatusHint(status int) string {
	if status >= 500 {
		return "is the IdP healthy? Its own log may say more."
	}
	return "does the discovery document's jwks_uri point where the IdP serves its keys?"
}
