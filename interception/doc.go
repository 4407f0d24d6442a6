// Package interception is what every interceptor needs and none owns: the
// capture of an upstream answer by status and type with a size cap, body
// decoding, form and query reading under the repeated-parameter rule, the
// request as events may show it, typed deny and error outcomes, and the
// path folding that keeps every spelling of an endpoint recognisable.
//
// Interceptors (interceptors/oidc, and the SAML and form interceptors to
// come) are written against it; it knows no protocol.
package interception
