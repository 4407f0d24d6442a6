// The login and registration journey on the IdP's own pages (the forms
// interceptor; see README "Login and registration pages").

/** @type {IdpHooks.Module} */
module.exports = {
  // Before the IdP checks anything: keep contractors out of this realm.
  onAfterIdentification(event, api) {
    if (event.identifier && event.identifier.endsWith("@contractor.example.com")) {
      api.deny("Contractors sign in at https://partners.example.com.");
    }
  },

  // Lazy migration: only for identifiers Keycloak does not know. The
  // legacy store says whether the password is right; accepted users are
  // created in Keycloak with it and never come here again.
  async onBeforePasswordValidation(event, api) {
    const r = await fetch("https://legacy.example.com/api/verify", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + secrets.LEGACY_TOKEN },
      body: JSON.stringify({ login: event.identifier, password: event.password }),
    });
    if (r.status === 404) return; // not a legacy user either: Keycloak answers as usual
    const user = await r.json();
    if (user.valid) {
      api.accept({ email: user.email, first_name: user.given_name, last_name: user.family_name });
    } else {
      api.reject();
    }
  },

  // Registration: tag the account with its CRM id (a user-profile
  // attribute in Keycloak), or stop it.
  async onBeforeRegistration(event, api) {
    const email = event.form.email || "";
    if (email.endsWith("@competitor.example")) {
      api.deny("Please register with your work email.");
      return;
    }
    api.form.setField("crm_id", "crm-" + email.length);
  },

  onAtFailedAuthentication(event, api) {
    if (event.error === "invalid_credentials") {
      api.replaceError("That did not work. Forgot your password? Use the link below.");
    }
  },

  onBeforePasswordReset(event, api) {
    if (event.identifier === "ceo@example.com") api.deny("Please call the help desk to reset this account.");
  },

  // Every successful login, OIDC or SAML (async: the login goes on).
  onAfterLogin(event) {
    console.log("login", event.application, event.user.sub, event.protocol);
  },
};
