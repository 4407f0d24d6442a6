// before_saml_assertion: shape what each SP receives in the assertion.
// event.saml is the verified assertion (issuer, sp_entity_id, name_id,
// attributes, ...); event.user is the NameID as sub plus the attributes.

/** @type {IdpHooks.Handlers["onBeforeSamlAssertion"]} */
exports.onBeforeSamlAssertion = async (event, api) => {
  const email = event.saml.name_id.value;
  if (email.endsWith("@contractor.example.com") && event.application === "https://payroll.example.com/saml") {
    api.deny("Contractors cannot sign in to payroll.");
    return;
  }
  api.assertion.setAttribute("tier", ["gold"]);
  // Keycloak sends one Role attribute per role: replace them with one
  // multi-valued attribute under an URI name the SP expects.
  const roles = event.saml.attributes.Role ? event.saml.attributes.Role.values : [];
  api.assertion.removeAttribute("Role");
  api.assertion.setAttribute("urn:oid:1.3.6.1.4.1.5923.1.1.1.7", roles, {
    nameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    friendlyName: "eduPersonEntitlement",
  });
};
