package saml

import (
	"net/http"

	"github.com/idphooks/idphooks/interception"
)

// serveMetadata answers with the IdP's metadata as SPs are to trust it.
func (i *Interceptor) serveMetadata(w http.ResponseWriter, r *http.Request) error {
	return &interception.PageError{Status: http.StatusNotImplemented, Message: "not yet"}
}
