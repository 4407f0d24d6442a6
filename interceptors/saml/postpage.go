package saml

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"mime"
	"net/http"
	"strings"

	"github.com/beevik/etree"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"

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
	if e, name := foreignEncoding(body, c.Header().Get("Content-Type")); e != nil {
		// Browsers decode the page before reading it, and the bytes
		// idphooks reads are not those characters: SAML, ESC ( B, Response
		// is SAMLResponse in ISO-2022-JP, and UTF-16 has no ASCII at all.
		// Such a page naming a SAML field is refused, not passed unhooked.
		if text, err := e.NewDecoder().Bytes(body); err != nil || mentionsMessage(text) {
			return i.refuse("SAML POST page refused", fmt.Errorf("%w: a page in %s names a SAML field, and idphooks reads pages in ASCII-compatible encodings only", binding.ErrAmbiguous, name))
		}
		c.WriteHeld()
		return nil
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
	if containsFold(page, "samlre") {
		return true
	}
	// Browsers decode character references in attribute values: a field
	// named SAML&#82;esponse is posted as SAMLResponse, and a page with
	// one must not pass unread.
	return bytes.Contains(page, []byte("&#")) && containsFold([]byte(html.UnescapeString(string(page))), "samlre")
}

// foreignEncoding returns the encoding (and its name) browsers decode
// page in when it is one whose bytes in the ASCII range are not always
// those ASCII characters: UTF-16 (from a byte order mark, which wins
// over every header, or a charset) and ISO-2022-JP (whose escape
// sequences vanish once decoded). Other encodings browsers support
// decode ASCII bytes as ASCII and never make one of other bytes, which is
// what ParsePost relies on. Nil for those.
func foreignEncoding(page []byte, contentType string) (encoding.Encoding, string) {
	head := page[:min(len(page), 1024)]
	bom := bytes.HasPrefix(page, []byte{0xfe, 0xff}) || bytes.HasPrefix(page, []byte{0xff, 0xfe})
	if !bom && !containsFold([]byte(contentType), "charset") && !containsFold(head, "charset") {
		return nil, ""
	}
	e, name, _ := charset.DetermineEncoding(page, contentType)
	if _, _, err := mime.ParseMediaType(contentType); err != nil && !bom {
		// Browsers read a charset from headers Go's parser refuses.
		if _, v, ok := strings.Cut(strings.ToLower(contentType), "charset="); ok {
			v, _, _ = strings.Cut(v, ";")
			if le, lname := charset.Lookup(strings.Trim(strings.TrimSpace(v), `"'`)); le != nil {
				e, name = le, lname
			}
		}
	}
	switch name {
	case "utf-16le", "utf-16be", "iso-2022-jp":
		return e, name
	}
	return nil, ""
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
