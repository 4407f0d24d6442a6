// Package upstream is idphooks' own view of an IdP: the documents it
// fetches itself (OIDC discovery and keys, SAML metadata), directly rather
// than through Caddy, with a size-capped client and a cache that serves a
// stale copy when a refetch fails, collapses concurrent refetches and backs
// off after failures.
package upstream
