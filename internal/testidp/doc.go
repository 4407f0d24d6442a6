// Package testidp starts real OpenID Connect providers for integration tests.
//
// Two providers are available:
//
//   - StartZitadel runs the example OpenID Provider of github.com/zitadel/oidc
//     in-process.
//   - StartOIDCProvider runs the npm package oidc-provider (v9) under node,
//     from the script in the oidcprovider folder next to this file.
//
// Both listen on 127.0.0.1 on a random port, register two confidential web
// clients (see ZitadelWebClientID, OIDCProviderBasicClientID, ...) and know
// the test users TestUser and SecondUser. Login drives either provider's HTML
// login and consent forms, also through a reverse proxy, and returns the
// callback URL carrying the authorization code.
//
// Credentials (identical on both providers):
//
//	user   password        sub    email              name
//	alice  alice-password  alice  alice@example.com  Alice Example   (TestUser)
//	bob    bob-password    bob    bob@example.com    Bob Example     (SecondUser)
//
//	provider       client_id  secret                             auth method          access tokens
//	zitadel        web        web-secret                         client_secret_basic  opaque
//	zitadel        web-jwt    web-jwt-secret                     client_secret_basic  JWT
//	oidc-provider  web-basic  web-basic-secret-0123456789abcdef  client_secret_basic  opaque; JWT (at+jwt) with resource
//	oidc-provider  web-post   web-post-secret-0123456789abcdef   client_secret_post   opaque; JWT (at+jwt) with resource
//
// Refresh tokens need scope offline_access (oidc-provider also needs
// prompt=consent). oidc-provider's resource indicator is
// OIDCProviderResource with scope OIDCProviderResourceScope.
//
// Redirect URIs are strings the relying party under test chooses; nothing
// needs to listen on them, since Login stops at the first redirect to the
// redirect_uri of the authorization request.
package testidp
