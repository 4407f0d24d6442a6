package saml

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/interception"
	"github.com/idphooks/idphooks/interceptors/saml/binding"
)

// Logout messages from the IdP to SPs (a LogoutRequest when the session
// ends elsewhere, the LogoutResponse closing an SP's own logout) are
// verified and re-signed like Responses: SPs trust only idphooks. They
// run no hook. One the IdP did not sign at all passes unchanged: there is
// nothing to verify, so idphooks vouches for nothing, and an SP that
// accepts unsigned logout messages gets what the IdP sent.

// locationCarriesMessage reports a redirect carrying a SAML message in its
// query (the HTTP-Redirect binding).
func locationCarriesMessage(loc string) bool {
	_, q, ok := strings.Cut(loc, "?")
	if !ok {
		return false
	}
	// SPs decode parameter names: SAML%52equest is SAMLRequest to them.
	b := percentDecoded(q)
	return containsFold(b, "samlrequest") || containsFold(b, "samlresponse")
}

// percentDecoded is s with its valid %XX escapes decoded, the rest as it
// stands (a stray % does not hide what follows).
func percentDecoded(s string) []byte {
	if strings.IndexByte(s, '%') < 0 {
		return []byte(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// errPass marks a message to pass as it came.
var errPass = errors.New("saml: passed unchanged")

// logoutPost handles a LogoutRequest or LogoutResponse of the POST
// binding: verified by its XML signature, re-signed the same way.
func (i *Interceptor) logoutPost(r *http.Request, doc *etree.Document) ([]byte, error) {
	l, signer, err := i.verifyLogout(r, doc, false)
	if err != nil {
		return nil, err
	}
	out, err := signer.SignLogout(l)
	if err != nil {
		return nil, i.unavailable(fmt.Errorf("saml: signing: %w", err))
	}
	return out, nil
}

// verifyLogout verifies a logout message (querySigned: its Redirect query
// signature was checked) and its times, and returns the key to re-sign it
// with. An unsigned one is errPass.
func (i *Interceptor) verifyLogout(r *http.Request, doc *etree.Document, querySigned bool) (*Logout, *Signer, error) {
	md, err := i.cfg.IdP.Metadata(r.Context())
	if err != nil {
		return nil, nil, i.unavailable(fmt.Errorf("%w: %w", errNoMetadata, err))
	}
	i.outageOver()
	l, err := i.verifier(md).VerifyLogoutDocument(doc, querySigned)
	if errors.Is(err, ErrUnsigned) {
		i.log.Debug("unsigned SAML logout message passed unchanged", zap.String("root", doc.Root().Tag))
		return nil, nil, errPass
	}
	if err != nil {
		return nil, nil, i.refuse("SAML logout message refused", err)
	}
	if err := l.CheckTimes(i.cfg.Now(), i.cfg.Leeway); err != nil {
		return nil, nil, i.refuse("SAML logout message refused", err)
	}
	if err := i.encryptLogoutFor(r.Context(), l); errors.Is(err, errSPMetadata) {
		return nil, nil, i.unavailable(err)
	} else if err != nil {
		return nil, nil, i.refuse("SAML logout message refused", err)
	}
	if err := i.restoreNameID(r.Context(), l); errors.Is(err, ErrNameIDsUnavailable) {
		return nil, nil, away(err)
	} else if err != nil {
		return nil, nil, i.refuse("SAML logout message refused", err)
	}
	signer, err := i.signer()
	if err != nil {
		return nil, nil, i.unavailable(err)
	}
	if err := i.afterLogout(r, l); err != nil {
		return nil, nil, away(err)
	}
	return l, signer, nil
}

// serveRedirect handles a held redirect whose Location carries a SAML
// message: the query signature (or an XML one) is verified and made anew
// with idphooks' key; RelayState and the SP's own query parameters pass
// byte for byte.
func (i *Interceptor) serveRedirect(w http.ResponseWriter, r *http.Request, c *interception.Capture) error {
	loc := c.Header().Get("Location")
	u, err := url.Parse(loc)
	if err != nil {
		return i.refuse("SAML redirect refused", fmt.Errorf("%w: Location: %v", ErrMalformed, err))
	}
	rd, err := binding.ParseRedirect(u.RawQuery, int(i.cfg.MaxBody))
	if errors.Is(err, binding.ErrNoMessage) {
		// "samlrequest" in another letter case, say: no SP reads it.
		c.WriteHeld()
		return nil
	}
	if err != nil {
		return i.refuse("SAML redirect refused", err)
	}
	doc, err := Parse(rd.Message, 0)
	if err != nil {
		return i.refuse("SAML redirect refused", err)
	}
	root := doc.Root()
	if !(is(root, NSProtocol, "LogoutRequest") && rd.Name == "SAMLRequest") &&
		!(is(root, NSProtocol, "LogoutResponse") && rd.Name == "SAMLResponse") {
		// A Response by Redirect is not a binding SPs accept for SSO.
		return i.refuse("SAML redirect refused", fmt.Errorf("%w: <%s> in %s by Redirect", ErrStructure, root.Tag, rd.Name))
	}
	querySigned := false
	if rd.SigAlg != "" {
		md, err := i.cfg.IdP.Metadata(r.Context())
		if err != nil {
			return i.unavailable(fmt.Errorf("%w: %w", errNoMetadata, err))
		}
		if err := rd.Verify(md.Signing, i.cfg.Algorithms); err != nil {
			return i.refuse("SAML redirect refused", err)
		}
		querySigned = true
	}
	l, signer, err := i.verifyLogout(r, doc, querySigned)
	if errors.Is(err, errPass) {
		c.WriteHeld()
		return nil
	}
	if err != nil {
		return err
	}
	out, err := signer.SignLogout(l)
	if err != nil {
		return i.unavailable(fmt.Errorf("saml: signing: %w", err))
	}
	// The query is signed when the IdP signed it; an XML signature (which
	// the binding does not define, but some IdPs add) was made anew above.
	var key = signer.Key
	if !querySigned {
		key = nil
	}
	q, err := binding.SignRedirect(rd.Name, out, rd.RawRelayState(), signer.Algorithm, key)
	if err != nil {
		return i.unavailable(fmt.Errorf("saml: signing the redirect: %w", err))
	}
	u.RawQuery = joinQuery(otherParams(u.RawQuery), q)
	c.Header().Set("Location", u.String())
	c.WriteHeld()
	return nil
}

// bindingParams are the Redirect binding's own parameters; every other
// one belongs to the SP's URL.
var bindingParams = map[string]bool{"SAMLRequest": true, "SAMLResponse": true, "RelayState": true, "SigAlg": true, "Signature": true, "SAMLEncoding": true}

// otherParams returns the raw parts of a query that are not the binding's,
// in their order, as they stood.
func otherParams(rawQuery string) []string {
	var out []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); part == "" || err == nil && bindingParams[key] {
			continue
		}
		out = append(out, part)
	}
	return out
}

func joinQuery(first []string, rest string) string {
	return strings.Join(append(first, rest), "&")
}
