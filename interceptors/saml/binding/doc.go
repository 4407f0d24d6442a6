// Package binding reads and writes the two SAML bindings that cross the
// browser: the HTTP-POST binding's auto-submitting page and the
// HTTP-Redirect binding's query (SAML bindings spec §3.4 and §3.5).
//
// It is pure: bytes in, bytes out, no Caddy and no XML. What it changes is
// only what the caller asks to change; every other byte of a page or
// query, RelayState above all, passes as it came.
package binding
