// Package forms intercepts the IdP's own login, registration and password
// reset pages: the form posts on their way in, where after_identification,
// before_password_validation, before_registration and
// before_password_reset hooks may stop or change them before the IdP sees
// them, and the IdP's answers to those posts, where
// at_failed_authentication and after_registration hooks run, and where
// the account steps after a login (a new password, a one-time code
// device, a profile update, a deletion) raise their async events for the
// customer the flow's login named.
//
// What differs between IdPs (which paths carry which form, the field
// names, how an answer says success or failure, where a page shows an
// error, how a page is shown again) is a Profile's; this package holds
// the flow every profile shares, written against package interception as
// the OIDC and SAML interceptors are. The profiles live in sub-packages:
// keycloak, simplesamlphp, generic.
//
// The rules it is built around: a hook judges exactly the values the IdP
// will use (a repeated field, a multipart body, another charset or a body
// over the cap is refused before any hook runs); a denied post never
// reaches the IdP; passwords reach before_password_validation and nothing
// else; with no hook on a form's events its traffic streams untouched.
package forms
