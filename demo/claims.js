// demo/claims.js — the hook of `go run ./cmd/demo`.
//
// idphooks calls onBeforeToken with the verified claims of the tokens the
// IdP just issued (event.id_token, event.access_token, event.user) before
// the token response reaches the application; what the hook sets is
// re-signed with idphooks' own keys. onBeforeUserinfo does the same for the
// userinfo response (where idphooks also repeats what was set on the ID
// token, so both agree). The page of the demo application compares what it
// got with what the IdP issued and marks each claim added, changed or
// removed here.

// Accounts this hook refuses, whatever the IdP says about them.
const BLOCKED = {
  bob: "bob's account is suspended (denied by the demo hook demo/claims.js)",
};

// A stand-in for what a real hook would fetch from a CRM or a database.
const DIRECTORY = {
  alice: { tier: "gold", roles: ["admin", "editor"], department: "Engineering" },
};

exports.onBeforeToken = async (event, api) => {
  const user = event.user || {};
  const username = user.preferred_username || user.sub;

  if (BLOCKED[username]) {
    api.deny(BLOCKED[username]);
    return;
  }

  const entry = DIRECTORY[username] || { tier: "bronze", roles: ["viewer"], department: "Guests" };
  const email = String(user.email || "");

  api.idToken.setClaim("tier", entry.tier);
  api.idToken.setClaim("roles", entry.roles);
  // A computed claim: derived from what the IdP said about the user.
  api.idToken.setClaim("email_domain", email.includes("@") ? email.split("@")[1] : null);
  // A changed claim: the directory knows the department the IdP does not.
  if (user.name) {
    api.idToken.setClaim("name", `${user.name} (${entry.department})`);
  }
  // A removed claim: the application picks the language itself, so the
  // IdP's default must not override it.
  api.idToken.removeClaim("locale");

  api.accessToken.setClaim("tier", entry.tier);
  api.accessToken.setClaim("roles", entry.roles);
  api.accessToken.setClaim("department", entry.department);
};

exports.onBeforeUserinfo = async (event, api) => {
  const entry = DIRECTORY[(event.user || {}).sub] || { tier: "bronze" };
  api.userinfo.setClaim("tier", entry.tier);
  api.userinfo.setClaim("hooked_at", new Date().toISOString());
};
