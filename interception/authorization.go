package interception

import (
	"encoding/base64"
	"strings"
)

// SplitAuthorization splits an Authorization header value into its scheme
// and credentials the way the lenient IdP parsers do (Keycloak splits on
// any whitespace): the scheme, then a run of spaces or tabs, then the rest,
// trimmed. A parser stricter than the IdP's would miss a token the IdP
// reads.
func SplitAuthorization(h string) (scheme, credentials string) {
	h = strings.TrimLeft(h, " \t")
	k := strings.IndexAny(h, " \t")
	if k < 0 {
		return h, ""
	}
	return h[:k], strings.Trim(h[k:], " \t")
}

// BasicUser decodes the user (the client id) of Basic credentials as the
// lenient decoders do: the standard or the URL-safe alphabet, with or
// without padding (Java's and Node's decoders accept both). ok is false
// when nothing decodes to a user:password pair.
func BasicUser(credentials string) (user string, ok bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(credentials)
		if err != nil {
			continue
		}
		u, _, found := strings.Cut(string(b), ":")
		if !found {
			return "", false
		}
		return u, true
	}
	return "", false
}
