// Package saml intercepts a SAML IdP's messages to service providers on
// their way through the browser: the HTTP-POST page carrying a Response
// (and logout messages by POST or Redirect), which it verifies against the
// IdP's metadata, hands to before_saml_assertion hooks, edits under a
// protection policy, and re-signs with idphooks' key where the IdP had
// signed (or builds a signed denial); and the IdP's metadata, which it
// serves with idphooks' certificates so that SPs trust nothing else.
//
// The XML-security core (Parse, Verifier, Model, the edits, Signer,
// PublishIdPMetadata, decryption and re-encryption) knows no HTTP: bytes
// and Go values in, bytes out. The interceptor (interceptor.go,
// postpage.go, response.go, logoutflow.go, published.go) is the HTTP side,
// written like the OIDC one against package interception. The bindings
// (POST page, Redirect query) live in the binding sub-package.
//
// The rule it is built around: nothing is read or passed on that a
// verified signature does not cover. The survey refuses every shape in
// which the signed element and the one used could differ (several
// assertions, a Signature elsewhere than right after the Issuer of the
// element whose ID its one Reference names, duplicate IDs, split text)
// before goxmldsig verifies that very element; what no signature covers
// (comments, processing instructions) is removed.
package saml
