// @ts-check
/// <reference path="../idphooks.d.ts" />
// Token and userinfo hooks, typed one handler at a time, using every global;
// the last line checks that the module exports nothing but handlers.

const { lookup, forget } = require("./lib/directory.js");
const config = require("./lib/config.json");

/** @type {IdpHooks.Handlers["onBeforeToken"]} */
exports.onBeforeToken = async (event, api) => {
  console.debug("before_token", event.id, event.type, event.time, event.request.id);
  const sub = event.user.sub ?? "";
  if (config.blocked.includes(sub)) {
    api.deny("suspended");
    return;
  }
  const entry = await lookup(sub);
  api.idToken.setClaim("tier", entry.tier);
  api.idToken.setClaim("roles", entry.roles);
  api.idToken.removeClaim("email");
  if (event.access_token_format === "jwt" && event.access_token !== null) {
    api.accessToken.setClaim("department", entry.department);
    api.accessToken.setClaim("scopes", event.scope.split(" "));
    api.accessToken.setClaim("resource", event.resource ?? null);
  }
  if (event.id_token) {
    api.idToken.setClaim("orig_iat", event.id_token.iat);
  }
  api.idToken.setClaim("session_hash", crypto.digest("SHA-256", event.request.id + sub, "base64url"));
  api.idToken.setClaim("nonce_id", crypto.randomUUID());
  console.info("claims set for", event.client_id, event.grant_type, event.audience);
};

/** @type {IdpHooks.Handlers["onAfterTokenRefresh"]} */
exports.onAfterTokenRefresh = async (event, api) => {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const mac = crypto.hmac("SHA-512", secrets.SIGNING_KEY, bytes, "hex");
  const expected = await cache.get("refresh/" + event.client_id);
  if (typeof expected === "string" && !crypto.timingSafeEqual(expected, mac)) {
    console.warn("refresh fingerprint changed for", event.application);
  }
  if (event.grant_type !== "refresh_token") {
    console.error("unexpected grant", event.grant_type);
    api.deny("refresh only");
  }
  await forget(String(event.user.sub));
};

/** @type {IdpHooks.Handlers["onBeforeUserinfo"]} */
exports.onBeforeUserinfo = (event, api) => {
  const ua = event.request.user_agent;
  const lang = event.request.headers?.["accept-language"] ?? "en";
  api.userinfo.setClaim("locale", lang.split(",")[0]);
  api.userinfo.setClaim("client", ua === "" ? null : ua);
  if (event.userinfo.email_verified === false) {
    api.userinfo.removeClaim("email");
  }
  console.log(__filename, __dirname, event.client_id);
};

/** @satisfies {IdpHooks.OnlyHandlers<typeof exports>} */ (exports);
