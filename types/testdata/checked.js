// @ts-check
/// <reference path="../idphooks.d.ts" />
// The checked module pattern and the typed claims. Each line below an
// expect-error directive must be an error. tsc reports one wrong property
// per object, so each wrong handler has an object of its own.

module.exports = /** @satisfies {IdpHooks.Module} */ ({
  // event and api are typed from the handler name: without that, event
  // would be any and the expected errors below would not happen.
  async onBeforeToken(event, api) {
    // @ts-expect-error sub is a string
    /** @type {number} */ const n = event.user.sub;
    /** @type {string | undefined} */ const userSub = event.user.sub;
    // @ts-expect-error the user may be {}: sub may be missing
    /** @type {string} */ const s = event.user.sub;
    // @ts-expect-error email_verified is a boolean
    if (event.user.email_verified === "true") return;
    // @ts-expect-error updated_at is seconds since the epoch
    event.user.updated_at?.toUpperCase();
    // @ts-expect-error address is an object
    /** @type {string | undefined} */ const address = event.user.address;
    /** @type {string | undefined} */ const country = event.user.address?.country;
    // Other claims stay JSON values.
    /** @type {IdpHooks.JSONValue} */ const tenant = event.user.tenant;
    api.idToken.setClaim("tenant", tenant);
    api.idToken.setClaim("user", event.user);
    api.idToken.setClaim("country", country ?? null);
    if (event.id_token) {
      // The claims OpenID Connect requires are there.
      /** @type {string} */ const sub = event.id_token.sub;
      /** @type {number} */ const exp = event.id_token.exp;
      /** @type {string | string[]} */ const aud = event.id_token.aud;
      // @ts-expect-error aud may be an array
      event.id_token.aud.toLowerCase();
      // @ts-expect-error amr is an array of strings
      /** @type {string | undefined} */ const amr = event.id_token.amr;
      // @ts-expect-error auth_time is a number
      /** @type {string | undefined} */ const at = event.id_token.auth_time;
      api.idToken.setClaim("orig", [sub, exp, aud]);
    }
    if (event.access_token) {
      /** @type {string} */ const iss = event.access_token.iss;
      // @ts-expect-error not every IdP's access token has sub
      /** @type {string} */ const sub = event.access_token.sub;
      // @ts-expect-error exp is a number
      /** @type {string | undefined} */ const exp = event.access_token.exp;
      api.accessToken.setClaim("orig_iss", iss);
    }
  },
  onBeforeUserinfo(event, api) {
    // The UserInfo response always has sub.
    /** @type {string} */ const sub = event.userinfo.sub;
    // @ts-expect-error phone_number_verified is a boolean
    /** @type {string | undefined} */ const v = event.userinfo.phone_number_verified;
    api.userinfo.setClaim("sub_hash", crypto.digest("SHA-256", sub));
  },
  // @ts-expect-error a misspelled handler would never be called
  onBeforToken(event, api) {},
});

const notAFunction = /** @satisfies {IdpHooks.Module} */ ({
  // @ts-expect-error a handler is a function
  onBeforeToken: 42,
});

const wrongEvent = /** @satisfies {IdpHooks.Module} */ ({
  // @ts-expect-error onAfterLogout gets an event, not a string
  onAfterLogout(/** @type {string} */ event) {},
});

const misnamedAsync = /** @satisfies {IdpHooks.Module} */ ({
  // @ts-expect-error handler names are case-sensitive
  async onbeforeToken() {},
});

const wrongReturn = /** @satisfies {IdpHooks.Module} */ ({
  // @ts-expect-error handlers return nothing: claims go through api
  onBeforeToken() { return { tier: "gold" }; },
});
