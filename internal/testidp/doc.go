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
// Redirect URIs are strings the relying party under test chooses; nothing
// needs to listen on them, since Login stops at the first redirect to the
// redirect_uri of the authorization request.
package testidp
