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
// parsed: login pages, the IdP's most frequent HTML, name neither. One
// pass looks for what SAMLResponse and SAMLRequest start with, in any
// letter case, as ParsePost refuses names in another case; a page where
// that is something else goes on unchanged after the parse.
func mentionsMessage(page []byte) bool {
	return containsFold(page, "samlre")
}

// containsFold reports whether b holds lower (ASCII letters, lower case)
// in any letter case, without a lower-cased copy of b. It looks for the
// first letter in both cases with IndexByte, which is vectorised, and
// compares at each hit (an "s" is rarer on Keycloak's pages than the
// other letters of "samlre").
func containsFold(b []byte, lower string) bool {
	const at = 0
	lo, up := lower[at], lower[at]-'a'+'A'
	nextLo, nextUp := -2, -2 // -2: not searched yet; -1: none left
	for k := at; k < len(b); {
		if nextLo != -1 && nextLo < k {
			nextLo = indexFrom(b, lo, k)
		}
		if nextUp != -1 && nextUp < k {
			nextUp = indexFrom(b, up, k)
		}
		j := nextLo
		if j < 0 || (nextUp >= 0 && nextUp < j) {
			j = nextUp
		}
		if j < 0 {
			return false
		}
		if start := j - at; start+len(lower) <= len(b) && bytes.EqualFold(b[start:start+len(lower)], []byte(lower)) {
			return true
		}
		k = j + 1
	}
	return false
}

// indexFrom is bytes.IndexByte from position k, as an absolute index.
func indexFrom(b []byte, c byte, k int) int {
	if j := bytes.IndexByte(b[k:], c); j >= 0 {
		return k + j
	}
	return -1
}
