// @ts-check
// An idphooks hook. idphooks calls onBeforeToken with the verified claims of
// the tokens the IdP just issued, before the token response reaches the
// application; the claims set here are re-signed with idphooks' own keys.
//
// The @satisfies annotation below is what makes the type check useful: it
// gives event and api their types from the handler's name, and makes tsc
// reject an export that is not a handler (onBeforToken would simply never
// be called) or a handler of the wrong shape. Check with
//   npx -p typescript tsc -p jsconfig.json
// or let VS Code do it as you type. idphooks.d.ts lists every event.

module.exports = /** @satisfies {IdpHooks.Module} */ ({
  async onBeforeToken(event, api) {
    // event.user holds the person's claims; it is {} for a token no person
    // is behind (client credentials), so check before use.
    const email = event.user.email;
    if (email === undefined) return;

    // A claim computed from what the IdP said. Protected claims (iss, sub,
    // aud, exp, nonce...) throw unless unlocked in the hook's config.
    const domain = email.slice(email.lastIndexOf("@") + 1);
    api.idToken.setClaim("email_domain", domain);

    // access_token is null when the IdP issues opaque access tokens.
    if (event.access_token !== null) {
      api.accessToken.setClaim("email_domain", domain);
    }

    // api.deny("reason") would stop the token response instead.
  },
});
