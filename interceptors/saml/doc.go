// Package saml is the XML-security core of idphooks' SAML interceptor: it
// parses a SAML message safely (no DOCTYPE, bounded depth, one root; the
// binding sub-package turns form and query values into its bytes),
// verifies the IdP's signatures with
// goxmldsig while refusing signature-wrapping shapes, extracts what
// before_saml_assertion hooks see (event.saml), applies the hooks' edits
// under a protection policy, and re-signs the result with idphooks' key
// where the IdP had signed, or builds a signed denial.
//
// It knows no HTTP and no Caddy: bytes and Go values in, bytes out. The
// bindings (POST page, Redirect query) live in the binding sub-package.
//
// The rule it is built around (goxmldsig's own advice): once a signature
// has been verified, only the element the validator returned is read and
// changed; the document that arrived is consulted for nothing that matters.
package saml
