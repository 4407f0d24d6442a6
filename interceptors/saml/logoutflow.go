package saml

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"

	"github.com/idphooks/idphooks/interception"
)

// locationCarriesMessage reports a redirect carrying a SAML message in its
// query (the HTTP-Redirect binding).
func locationCarriesMessage(loc string) bool {
	_, q, ok := strings.Cut(loc, "?")
	return ok && (containsFold([]byte(q), "samlrequest") || containsFold([]byte(q), "samlresponse"))
}

// logoutPost handles a LogoutRequest or LogoutResponse of the POST
// binding.
func (i *Interceptor) logoutPost(r *http.Request, doc *etree.Document) ([]byte, error) {
	return nil, i.refuse("SAML logout message refused", errors.New("logout messages are not handled yet"))
}

// serveRedirect handles a redirect carrying a SAML message.
func (i *Interceptor) serveRedirect(w http.ResponseWriter, r *http.Request, c *interception.Capture) error {
	if _, err := url.Parse(c.Header().Get("Location")); err != nil {
		return i.refuse("SAML redirect refused", err)
	}
	return i.refuse("SAML redirect refused", errors.New("logout messages are not handled yet"))
}
