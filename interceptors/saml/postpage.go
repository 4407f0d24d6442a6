package saml

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/beevik/etree"

	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/interceptors/saml/binding"
)

// servePage handles a held HTML page: one that posts a SAML message to an
// SP (the HTTP-POST binding) gets the message verified, hooked and
// re-signed in place, the rest of the page byte for byte as the IdP wrote
// it (RelayState, scripts, CSP hashes, the form's action); any other page
// goes out unchanged.
func (i *Interceptor) servePage(w http.ResponseWriter, r *http.Request, c *interception.Capture) error {
	body, err := c.Body()
	if err != nil {
		return i.refuse("identity provider page unusable", err)
	}
	if !mentionsMessage(body) {
		c.WriteHeld()
		return nil
	}
	form, err := binding.ParsePost(body, int(i.cfg.MaxBody))
	if errors.Is(err, binding.ErrNoMessage) {
		c.WriteHeld()
		return nil
	}
	if err != nil {
		return i.refuse("SAML POST page refused", err)
	}
	raw, err := form.Decode()
	if err != nil {
		return i.refuse("SAML message undecodable", err)
	}
	doc, err := Parse(raw, 0)
	if err != nil {
		return i.refuse("SAML message refused", err)
	}
	out, err := i.message(r, doc, form.Message.Name)
	if errors.Is(err, errPass) {
		c.WriteHeld()
		return nil
	}
	if err != nil {
		return err
	}
	c.WriteBody("", form.SetMessage(body, out))
	return nil
}

// message verifies, hooks and re-signs one message of the POST binding,
// by its root element.
func (i *Interceptor) message(r *http.Request, doc *etree.Document, field string) ([]byte, error) {
	root := doc.Root()
	switch {
	case is(root, NSProtocol, "Response") && field == "SAMLResponse":
		return i.response(r, doc)
	case is(root, NSProtocol, "LogoutResponse") && field == "SAMLResponse",
		is(root, NSProtocol, "LogoutRequest") && field == "SAMLRequest":
		return i.logoutPost(r, doc)
	}
	// An SP would not take what idphooks cannot check (an ArtifactResponse,
	// a message in the wrong field): refused rather than passed on signed
	// by the IdP, which SPs trusting idphooks refuse less clearly.
	return nil, i.refuse("SAML message refused", fmt.Errorf("%w: <%s> in %s", ErrStructure, root.Tag, field))
}

// mentionsMessage is a quick look for a field name before the page is
// parsed: login pages, the IdP's most frequent HTML, name neither. The
// look ignores letter case, as ParsePost refuses names in another case.
func mentionsMessage(page []byte) bool {
	return containsFold(page, "samlresponse") || containsFold(page, "samlrequest")
}

// containsFold reports whether b holds lower (ASCII, lower case) in any
// letter case, without a lower-cased copy of b.
func containsFold(b []byte, lower string) bool {
	first := lower[0]
	for k := 0; k+len(lower) <= len(b); {
		j := bytes.IndexAny(b[k:], string([]byte{first, first - 'a' + 'A'}))
		if j < 0 {
			return false
		}
		k += j
		if k+len(lower) <= len(b) && bytes.EqualFold(b[k:k+len(lower)], []byte(lower)) {
			return true
		}
		k++
	}
	return false
}
