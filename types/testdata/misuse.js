// @ts-check
/// <reference path="../idphooks.d.ts" />
// Deliberate misuse: every line after a @ts-expect-error must be an error.
// If a declaration grows too lax (or an annotation stops applying), the
// directive goes unused and tsc fails.

/** @type {IdpHooks.Handlers["onBeforeToken"]} */
exports.onBeforeToken = async (event, api) => {
  // @ts-expect-error before_token has no redirect
  api.redirect("https://example.com");
  // @ts-expect-error claims are idToken/accessToken, not userinfo
  api.userinfo.setClaim("a", 1);
  // @ts-expect-error claim values are JSON: no functions
  api.idToken.setClaim("f", () => 1);
  // @ts-expect-error claim values are JSON: no undefined
  api.accessToken.setClaim("u", undefined);
  // @ts-expect-error setClaim takes a name and a value
  api.idToken.setClaim("only-a-name");
  // @ts-expect-error deny takes a reason
  api.deny();
  // @ts-expect-error access_token_format is "jwt" or "opaque"
  if (event.access_token_format === "JWT") return;
  // @ts-expect-error id_token may be null
  console.log(event.id_token.sub);
  // @ts-expect-error the event type is a literal
  /** @type {"after_login"} */ const t = event.type;
  // @ts-expect-error no password on token events
  console.log(event.password);
};

/** @type {IdpHooks.Handlers["onBeforeSamlAssertion"]} */
exports.onBeforeSamlAssertion = (event, api) => {
  // @ts-expect-error attribute values are strings
  api.assertion.setAttribute("n", 1);
  // @ts-expect-error SAML assertions have no claims
  api.idToken.setClaim("a", "b");
  // @ts-expect-error name_id is an object
  event.saml.name_id.toLowerCase();
};

/** @type {IdpHooks.Handlers["onBeforePasswordValidation"]} */
exports.onBeforePasswordValidation = (event, api) => {
  // @ts-expect-error password validation cannot deny
  api.deny("no");
  // @ts-expect-error accept takes nothing
  api.accept(true);
  api.reject();
};

/** @type {IdpHooks.Handlers["onAfterRegistration"]} */
exports.onAfterRegistration = (event, api) => {
  // @ts-expect-error after_registration cannot deny
  api.deny("late");
  // @ts-expect-error the form cannot be changed after registration
  api.form.setField("a", "b");
};

/** @type {IdpHooks.Handlers["onAfterLogin"]} */
exports.onAfterLogin = (event, api) => {
  // @ts-expect-error async hooks can change nothing
  api.deny("too late");
};

/** @type {IdpHooks.Handlers["onAfterLogout"]} */
// @ts-expect-error a handler takes (event, api), not a string
exports.onAfterLogout = (/** @type {string} */ event) => {};

async function globals() {
  // @ts-expect-error fetch takes a string URL
  await fetch(new URL("https://example.com"));
  // @ts-expect-error no objects as bodies: JSON.stringify them
  await fetch("https://example.com", { method: "POST", body: { a: 1 } });
  // @ts-expect-error redirect is follow, manual or error
  await fetch("https://example.com", { redirect: "never" });
  const r = await fetch("https://example.com");
  // @ts-expect-error Response properties are read-only
  r.status = 200;
  // @ts-expect-error no Headers.set on a response
  r.headers.set("a", "b");
  // @ts-expect-error no body streams
  r.body;

  // @ts-expect-error secrets are read-only
  secrets.API_KEY = "x";
  // @ts-expect-error secrets are strings
  const n = secrets.API_KEY * 2;

  // @ts-expect-error console has no table
  console.table([]);

  // @ts-expect-error cache keys are strings
  await cache.get(1);
  // @ts-expect-error cache values are JSON
  await cache.set("k", new Map());
  // @ts-expect-error ttl is a number of seconds
  await cache.set("k", 1, { ttl: "1h" });
  // @ts-expect-error cache.get is async
  const v = cache.get("k").length;

  // @ts-expect-error SHA-1 is not offered
  crypto.digest("SHA-1", "x");
  // @ts-expect-error encodings are hex, base64 and base64url
  crypto.digest("SHA-256", "x", "binary");
  // @ts-expect-error digest is synchronous and returns a string
  crypto.digest("SHA-256", "x").then(() => {});
  // @ts-expect-error getRandomValues fills a Uint8Array
  crypto.getRandomValues(new Uint16Array(4));
  // @ts-expect-error this crypto is not WebCrypto
  crypto.subtle;

  // @ts-expect-error only relative paths: no host modules
  require("fs");
  // @ts-expect-error no timers in the sandbox
  setTimeout(() => {}, 1);
  // @ts-expect-error no process in the sandbox
  process.env;
  // @ts-expect-error no DOM in the sandbox
  document.cookie;
  // @ts-expect-error no Buffer in the sandbox
  Buffer.from("x");
}
exports.globals = globals;
