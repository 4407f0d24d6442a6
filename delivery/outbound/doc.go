// Package outbound is how idphooks reaches a receiver's URL: the URL
// checked at config time (https, or http for a listed host; no user
// information, no fragment), a client whose every connection passes the
// egress rules at dial time (no private, loopback or metadata address
// unless allow_hosts opens it), TLS verified, redirects never followed,
// and one POST whose answer is read up to a cap. Webhooks (Standard
// Webhooks) and Shared Signals (RFC 8935 push) both send through it, so
// the rules are the same for every kind of receiver.
package outbound
