package testidp

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SAML signing placements a Keycloak SAML client can be given.
const (
	// SignAssertion signs the Assertion only (Keycloak's "Sign assertions").
	SignAssertion = "assertion"
	// SignResponse signs the Response only ("Sign documents").
	SignResponse = "response"
	// SignBoth signs the Assertion and the Response around it.
	SignBoth = "both"
)

// NameID formats a Keycloak SAML client can be forced to.
const (
	NameIDEmail      = "email"
	NameIDPersistent = "persistent"
)

// Bindings Keycloak uses for the front-channel LogoutRequest it sends a
// SAML client when a session ends elsewhere.
const (
	LogoutPOST     = "post"
	LogoutRedirect = "redirect"
)

// Attributes every Keycloak SAML client releases (Basic NameFormat), and the
// user data behind them that AddKeycloakSAMLClient puts into the realm.
const (
	// SAMLEmailAttribute carries the user's email.
	SAMLEmailAttribute = "email"
	// SAMLRoleAttribute carries the user's realm roles, one Attribute
	// element per role, all of this name (Keycloak's role list mapper with
	// "single" off), default-roles-acme included.
	SAMLRoleAttribute = "Role"
	// SAMLDepartmentAttribute carries the user attribute "department".
	SAMLDepartmentAttribute = "department"
)

// KeycloakSAMLUserRoles are the realm roles given to the test users, beside
// Keycloak's default-roles-acme.
var KeycloakSAMLUserRoles = map[string][]string{
	TestUser.Username:   {"staff", "auditor"},
	SecondUser.Username: {"staff"},
}

// KeycloakSAMLUserDepartment is each test user's "department" attribute.
var KeycloakSAMLUserDepartment = map[string]string{
	TestUser.Username:   "engineering",
	SecondUser.Username: "sales",
}

// KeycloakSAMLClient is a SAML service provider to register in the realm
// KeycloakRealm of a running Keycloak (AddKeycloakSAMLClient).
type KeycloakSAMLClient struct {
	// EntityID is the SP's entity id (Keycloak's client id). Required.
	EntityID string
	// ACSURL is the SP's AssertionConsumerService (HTTP-POST binding), and
	// where IdP-initiated logins post to. Required.
	ACSURL string
	// SLOURL is the SP's SingleLogoutService (see LogoutBinding). Empty
	// means no single logout.
	SLOURL string
	// Signing is SignAssertion, SignResponse or SignBoth; default
	// SignAssertion.
	Signing string
	// EncryptTo, when set, makes Keycloak encrypt assertions to this
	// certificate (aes256-gcm, key wrapped with xmlenc11 rsa-oaep).
	EncryptTo *x509.Certificate
	// RequestSigner, when set, is the SP's own certificate: Keycloak then
	// requires AuthnRequests and LogoutRequests signed by its key. Nil
	// means the SP's requests need no signature.
	RequestSigner *x509.Certificate
	// NameIDFormat is NameIDEmail (default) or NameIDPersistent, forced
	// whatever the AuthnRequest asks.
	NameIDFormat string
	// LogoutBinding is the binding of Keycloak's logout messages towards
	// the SP. LogoutPOST (default): SLOURL is registered for both bindings
	// and every message is posted (saml.force.post.binding). LogoutRedirect:
	// SLOURL is registered for HTTP-Redirect only, so LogoutRequests go by
	// Redirect, and a LogoutResponse answers in the binding of the SP's
	// LogoutRequest. Login responses are posted either way.
	LogoutBinding string
	// IdPInitiatedName is saml_idp_initiated_sso_url_name: IdP-initiated
	// login starts at KeycloakSAMLIdPInitiatedURL(p, name). Empty means none.
	IdPInitiatedName string
}

// KeycloakSAMLDescriptorURL is the realm's SAML IdP metadata (an
// EntityDescriptor whose entityID is p.Issuer()).
func KeycloakSAMLDescriptorURL(p *Provider) string {
	return p.Issuer() + "/protocol/saml/descriptor"
}

// KeycloakSAMLEndpoint is the realm's SAML endpoint: SSO and SLO, every
// binding.
func KeycloakSAMLEndpoint(p *Provider) string {
	return p.Issuer() + "/protocol/saml"
}

// KeycloakSAMLIdPInitiatedURL starts an IdP-initiated login for the client
// whose IdPInitiatedName is name.
func KeycloakSAMLIdPInitiatedURL(p *Provider, name string) string {
	return p.Issuer() + "/protocol/saml/clients/" + url.PathEscape(name)
}

// AddKeycloakSAMLClient registers c in the realm KeycloakRealm of the
// Keycloak server p through the admin REST API, replacing a client of the
// same entity id. It also gives the test users the roles in
// KeycloakSAMLUserRoles and the attribute in KeycloakSAMLUserDepartment
// (done again each call; harmless). The client releases
// SAMLEmailAttribute, SAMLRoleAttribute and SAMLDepartmentAttribute, signs
// with RSA-SHA256 and exclusive C14N, has front-channel logout on and needs
// no consent.
func AddKeycloakSAMLClient(ctx context.Context, p *Provider, c KeycloakSAMLClient) error {
	if c.EntityID == "" || c.ACSURL == "" {
		return errors.New("testidp: keycloak SAML client: EntityID and ACSURL are required")
	}
	rep, err := keycloakSAMLClientRep(c)
	if err != nil {
		return err
	}
	a, err := newKeycloakAdmin(ctx, p)
	if err != nil {
		return err
	}
	if err := a.ensureSAMLUserData(ctx); err != nil {
		return err
	}
	var found []struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, http.MethodGet, "/clients?clientId="+url.QueryEscape(c.EntityID), nil, &found); err != nil {
		return err
	}
	for _, f := range found {
		if err := a.do(ctx, http.MethodDelete, "/clients/"+f.ID, nil, nil); err != nil {
			return err
		}
	}
	return a.do(ctx, http.MethodPost, "/clients", rep, nil)
}

func keycloakSAMLClientRep(c KeycloakSAMLClient) (map[string]any, error) {
	signAssertion, signResponse := true, false
	switch c.Signing {
	case "", SignAssertion:
	case SignResponse:
		signAssertion, signResponse = false, true
	case SignBoth:
		signResponse = true
	default:
		return nil, fmt.Errorf("testidp: keycloak SAML client: unknown Signing %q", c.Signing)
	}
	nameID := c.NameIDFormat
	switch nameID {
	case "":
		nameID = NameIDEmail
	case NameIDEmail, NameIDPersistent:
	default:
		return nil, fmt.Errorf("testidp: keycloak SAML client: unknown NameIDFormat %q", nameID)
	}
	forcePost := true
	switch c.LogoutBinding {
	case "", LogoutPOST:
	case LogoutRedirect:
		forcePost = false
	default:
		return nil, fmt.Errorf("testidp: keycloak SAML client: unknown LogoutBinding %q", c.LogoutBinding)
	}
	sloPost := c.SLOURL
	if !forcePost {
		sloPost = ""
	}
	attrs := map[string]string{
		"saml.assertion.signature":                boolString(signAssertion),
		"saml.server.signature":                   boolString(signResponse),
		"saml.server.signature.keyinfo.ext":       "false",
		"saml.signature.algorithm":                "RSA_SHA256",
		"saml_signature_canonicalization_method":  "http://www.w3.org/2001/10/xml-exc-c14n#",
		"saml.client.signature":                   boolString(c.RequestSigner != nil),
		"saml.encrypt":                            boolString(c.EncryptTo != nil),
		"saml.authnstatement":                     "true",
		"saml.onetimeuse.condition":               "false",
		"saml_force_name_id_format":               "true",
		"saml_name_id_format":                     nameID,
		"saml.force.post.binding":                 boolString(forcePost),
		"saml.artifact.binding":                   "false",
		"saml_assertion_consumer_url_post":        c.ACSURL,
		"saml_single_logout_service_url_post":     sloPost,
		"saml_single_logout_service_url_redirect": c.SLOURL,
		"saml_idp_initiated_sso_url_name":         c.IdPInitiatedName,
	}
	if c.RequestSigner != nil {
		attrs["saml.signing.certificate"] = base64.StdEncoding.EncodeToString(c.RequestSigner.Raw)
	}
	if c.EncryptTo != nil {
		attrs["saml.encryption.certificate"] = base64.StdEncoding.EncodeToString(c.EncryptTo.Raw)
	}
	redirects := []string{c.ACSURL}
	if c.SLOURL != "" {
		redirects = append(redirects, c.SLOURL)
	}
	mapper := func(name, kind string, config map[string]string) map[string]any {
		config["attribute.name"] = name
		config["friendly.name"] = name
		config["attribute.nameformat"] = "Basic"
		return map[string]any{"name": name, "protocol": "saml", "protocolMapper": kind, "config": config}
	}
	return map[string]any{
		"clientId":           c.EntityID,
		"name":               "idphooks test SAML SP (" + c.EntityID + ")",
		"protocol":           "saml",
		"enabled":            true,
		"frontchannelLogout": true,
		"consentRequired":    false,
		"fullScopeAllowed":   true,
		"redirectUris":       redirects,
		"baseUrl":            c.ACSURL,
		"attributes":         attrs,
		"protocolMappers": []any{
			mapper(SAMLEmailAttribute, "saml-user-property-mapper", map[string]string{"user.attribute": "email"}),
			mapper(SAMLRoleAttribute, "saml-role-list-mapper", map[string]string{"single": "false"}),
			mapper(SAMLDepartmentAttribute, "saml-user-attribute-mapper", map[string]string{"user.attribute": "department", "aggregate.attrs": "false"}),
		},
	}, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// keycloakAdmin calls the admin REST API of the realm KeycloakRealm.
type keycloakAdmin struct {
	hc    *http.Client
	realm string // base URL of /admin/realms/acme
	token string
}

func newKeycloakAdmin(ctx context.Context, p *Provider) (*keycloakAdmin, error) {
	base, ok := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm)
	if !ok || p.Name != "keycloak" {
		return nil, fmt.Errorf("testidp: %s is not a Keycloak realm issuer", p.Issuer())
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	tok, err := postForm(ctx, hc, base+"/realms/master/protocol/openid-connect/token", url.Values{
		"grant_type": {"password"}, "client_id": {"admin-cli"},
		"username": {KeycloakAdminUser}, "password": {KeycloakAdminPassword},
	})
	if err != nil {
		return nil, fmt.Errorf("testidp: keycloak admin token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(tok, &t); err != nil || t.AccessToken == "" {
		return nil, fmt.Errorf("testidp: keycloak admin token: %v: %.200s", err, tok)
	}
	return &keycloakAdmin{hc: hc, realm: base + "/admin/realms/" + KeycloakRealm, token: t.AccessToken}, nil
}

// do sends body (JSON) to the realm's path and decodes a JSON answer into
// out when out is not nil. 409 Conflict on a POST counts as done.
func (a *keycloakAdmin) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.realm+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("testidp: keycloak admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusConflict && method == http.MethodPost {
		return nil
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("testidp: keycloak admin %s %s: HTTP %d: %.300s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("testidp: keycloak admin %s %s: %w", method, path, err)
		}
	}
	return nil
}

// ensureSAMLUserData makes sure the realm's user profile declares
// "department" (the realm file does; unmanaged attributes stay off, so an
// undeclared one would be dropped), creates the roles of
// KeycloakSAMLUserRoles and gives the test users their roles and
// department.
func (a *keycloakAdmin) ensureSAMLUserData(ctx context.Context) error {
	var profile map[string]any
	if err := a.do(ctx, http.MethodGet, "/users/profile", nil, &profile); err != nil {
		return err
	}
	attrs, _ := profile["attributes"].([]any)
	declared := false
	for _, at := range attrs {
		if m, _ := at.(map[string]any); m["name"] == "department" {
			declared = true
		}
	}
	if !declared {
		profile["attributes"] = append(attrs, map[string]any{
			"name":        "department",
			"permissions": map[string]any{"view": []string{"admin"}, "edit": []string{"admin"}},
		})
		if err := a.do(ctx, http.MethodPut, "/users/profile", profile, nil); err != nil {
			return err
		}
	}
	for user, roles := range KeycloakSAMLUserRoles {
		var reps []map[string]any
		for _, role := range roles {
			if err := a.do(ctx, http.MethodPost, "/roles", map[string]any{"name": role}, nil); err != nil {
				return err
			}
			var rep map[string]any
			if err := a.do(ctx, http.MethodGet, "/roles/"+url.PathEscape(role), nil, &rep); err != nil {
				return err
			}
			reps = append(reps, rep)
		}
		// The realm file gives users ids equal to their usernames.
		if err := a.do(ctx, http.MethodPost, "/users/"+user+"/role-mappings/realm", reps, nil); err != nil {
			return err
		}
		var u map[string]any
		if err := a.do(ctx, http.MethodGet, "/users/"+user, nil, &u); err != nil {
			return err
		}
		attrs, _ := u["attributes"].(map[string]any)
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs["department"] = []string{KeycloakSAMLUserDepartment[user]}
		u["attributes"] = attrs
		if err := a.do(ctx, http.MethodPut, "/users/"+user, u, nil); err != nil {
			return err
		}
	}
	return nil
}

// KeycloakBrowserLogoutURL is the realm's own logout page (OpenID
// Connect's end_session endpoint without id_token_hint: a confirmation
// form); in a browser with the realm's session it ends the session and
// sends every front-channel SAML client a LogoutRequest.
func KeycloakBrowserLogoutURL(p *Provider) string {
	return p.Issuer() + "/protocol/openid-connect/logout"
}
