// @ts-check
/// <reference path="../idphooks.d.ts" />
// Login-flow, SAML and async hooks, checked as a whole module: every name
// must be a handler, every handler the right shape.

const BANNED_DOMAINS = ["example.invalid"];

module.exports = /** @satisfies {IdpHooks.Module} */ ({
  async onBeforeSamlAssertion(event, api) {
    api.assertion.setAttribute("groups", ["staff", "vpn"]);
    api.assertion.setAttribute("department", event.saml.attributes.ou?.values[0] ?? "none");
    api.assertion.removeAttribute("mobile");
    api.assertion.setNameID(event.saml.name_id.value.toLowerCase());
    api.assertion.setNameID(String(event.user.email), "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
    if (event.saml.sp_entity_id.startsWith("http://")) api.deny("insecure SP");
  },

  onAfterIdentification(event, api) {
    if (event.identifier?.endsWith("@legacy.example.com")) {
      api.redirect("https://legacy.example.com/login?u=" + encodeURIComponent(event.identifier));
    } else if (!event.identifier) {
      api.deny("identifier required");
    }
  },

  async onBeforePasswordValidation(event, api) {
    const r = await fetch("https://legacy.example.com/verify", {
      method: "POST",
      headers: [["content-type", "application/json"]],
      body: JSON.stringify({ user: event.identifier, password: event.password }),
    });
    const { valid } = await r.json();
    if (valid === true) api.accept({ first_name: "Jane", attributes: { legacy_id: String(event.identifier) } });
    else api.reject("legacy store refused");
  },

  onAtFailedAuthentication(event, api) {
    if (event.error === "temporarily_locked") api.replaceError("Too many attempts: " + event.idp_message);
    else if (event.form_type === "registration") api.replaceError("Please check the form.");
    else api.redirect("/help");
  },

  async onBeforeRegistration(event, api) {
    const email = event.form?.email ?? "";
    if (BANNED_DOMAINS.some((d) => email.endsWith("@" + d))) {
      api.deny("domain not allowed");
      return;
    }
    api.form.setField("email", email.trim().toLowerCase());
    api.form.removeField("referrer");
    const body = new TextEncoderLike().encode(email);
    await fetch("https://audit.example.com/registrations", { method: "PUT", body });
  },

  onAfterRegistration(event, api) {
    api.redirect("/welcome?app=" + encodeURIComponent(event.application));
  },

  async onAfterExternalLogin(event, api) {
    if (event.provider === "github" && !event.external_user.two_factor_authentication) {
      api.redirect("/enroll-mfa");
    }
    const r = await fetch("https://api.github.com/user/orgs", { redirect: "manual" });
    const buf = await r.arrayBuffer();
    if (r.redirected || buf.byteLength === 0) api.deny("no org");
    r.headers.forEach((value, name) => console.debug(name, value));
  },

  onBeforePasswordReset(event, api) {
    if (event.request.ip.startsWith("10.")) api.deny("reset from the office network only by IT");
  },

  async onAfterLogin(event, api) {
    await fetch("https://siem.example.com/logins", {
      method: "POST",
      body: JSON.stringify({ user: event.user.sub, at: event.time, ip: event.request.ip, method: event.method }),
    });
    console.log(Object.keys(api).length);
  },
  onAfterPasswordReset(event) { console.info(event.type); },
  onAfterAccountUpdate(event) { console.info(event.type, event.user.sub, event.form.email); },
  onAfterAccountDeletion(event) { console.info(event.type); },
  onAfterConsentUpdate(event) { console.info(event.type); },
  onAfterMfaChange(event) { console.info(event.type, event.mfa_type, event.action); },
  onAfterLogout(event) { console.info(event.type); },
  onAfterEmailVerification(event) { console.info(event.type, event.user.email); },
});

/** No TextEncoder in the sandbox: a UTF-8 encoder for the sake of the example. */
class TextEncoderLike {
  /** @param {string} s */
  encode(s) {
    const bin = unescape(encodeURIComponent(s));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
}
