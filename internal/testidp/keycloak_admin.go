package testidp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// KeycloakUser is a user of the realm as the admin REST API shows it.
type KeycloakUser struct {
	ID            string              `json:"id"`
	Username      string              `json:"username"`
	Email         string              `json:"email"`
	EmailVerified bool                `json:"emailVerified"`
	FirstName     string              `json:"firstName"`
	LastName      string              `json:"lastName"`
	Enabled       bool                `json:"enabled"`
	Attributes    map[string][]string `json:"attributes"`
}

// KeycloakServiceAccountToken is an access token of KeycloakAdminClientID's
// service account (client_credentials at the realm's token endpoint of the
// Keycloak server p), for the realm's admin REST API.
func KeycloakServiceAccountToken(ctx context.Context, p *Provider) (string, error) {
	if _, ok := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm); !ok || p.Name != "keycloak" {
		return "", fmt.Errorf("testidp: %s is not a Keycloak realm issuer", p.Issuer())
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	b, err := postForm(ctx, hc, p.Issuer()+"/protocol/openid-connect/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {KeycloakAdminClientID}, "client_secret": {KeycloakAdminClientSecret},
	})
	if err != nil {
		return "", fmt.Errorf("testidp: keycloak service account token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("testidp: keycloak service account token: %v: %.200s", err, b)
	}
	return t.AccessToken, nil
}

// FindKeycloakUser looks the user with exactly this username up in the
// realm, as KeycloakAdminClientID's service account; nil and no error when
// there is none.
func FindKeycloakUser(ctx context.Context, p *Provider, username string) (*KeycloakUser, error) {
	var users []KeycloakUser
	q := url.Values{"username": {username}, "exact": {"true"}, "briefRepresentation": {"false"}}
	if err := serviceAccountCall(ctx, p, http.MethodGet, "/users?"+q.Encode(), &users); err != nil {
		return nil, err
	}
	for _, u := range users {
		if strings.EqualFold(u.Username, username) {
			return &u, nil
		}
	}
	return nil, nil
}

// DeleteKeycloakUser removes the user with that Keycloak id from the realm,
// as KeycloakAdminClientID's service account.
func DeleteKeycloakUser(ctx context.Context, p *Provider, id string) error {
	return serviceAccountCall(ctx, p, http.MethodDelete, "/users/"+url.PathEscape(id), nil)
}

// serviceAccountCall calls the realm's admin REST API at path (below
// /admin/realms/acme) with the service account's token and decodes a JSON
// answer into out when out is not nil.
func serviceAccountCall(ctx context.Context, p *Provider, method, path string, out any) error {
	return serviceAccountCallJSON(ctx, p, method, path, nil, out)
}

// NewKeycloakUser is a user CreateKeycloakUser adds to the realm.
type NewKeycloakUser struct {
	Username, Password, Email, FirstName, LastName string
	// RequiredActions are Keycloak's required actions (UPDATE_PASSWORD,
	// CONFIGURE_TOTP, ...) the user meets at their next login.
	RequiredActions []string
}

// CreateKeycloakUser adds an enabled user with a verified email to the
// realm, as KeycloakAdminClientID's service account, and returns their
// Keycloak id.
func CreateKeycloakUser(ctx context.Context, p *Provider, u NewKeycloakUser) (string, error) {
	body := map[string]any{
		"username": u.Username, "email": u.Email, "firstName": u.FirstName, "lastName": u.LastName,
		"enabled": true, "emailVerified": true, "requiredActions": append([]string{}, u.RequiredActions...),
		"credentials": []map[string]any{{"type": "password", "value": u.Password, "temporary": false}},
	}
	if err := serviceAccountCallJSON(ctx, p, http.MethodPost, "/users", body, nil); err != nil {
		return "", err
	}
	found, err := FindKeycloakUser(ctx, p, u.Username)
	if err != nil || found == nil {
		return "", fmt.Errorf("testidp: the new user %s: %v", u.Username, err)
	}
	return found.ID, nil
}

// EnableKeycloakAccountDeletion turns the realm's delete_account required
// action on and gives the user the account client's delete-account role,
// so that kc_action=delete_account lets them delete their account. It
// acts as the master realm's admin (the service account may not change
// the realm's authentication settings).
func EnableKeycloakAccountDeletion(ctx context.Context, p *Provider, userID string) error {
	tok, err := masterAdminToken(ctx, p)
	if err != nil {
		return err
	}
	call := func(method, path string, in, out any) error { return adminCall(ctx, p, tok, method, path, in, out) }
	if err := call(http.MethodPut, "/authentication/required-actions/delete_account", map[string]any{
		"alias": "delete_account", "name": "Delete Account", "providerId": "delete_account",
		"enabled": true, "defaultAction": false, "priority": 60, "config": map[string]any{},
	}, nil); err != nil {
		return err
	}
	var clients []struct {
		ID string `json:"id"`
	}
	if err := call(http.MethodGet, "/clients?clientId=account", nil, &clients); err != nil || len(clients) != 1 {
		return fmt.Errorf("testidp: the account client: %v (%d found)", err, len(clients))
	}
	var role map[string]any
	if err := call(http.MethodGet, "/clients/"+clients[0].ID+"/roles/delete-account", nil, &role); err != nil {
		return err
	}
	return call(http.MethodPost, "/users/"+url.PathEscape(userID)+"/role-mappings/clients/"+clients[0].ID, []any{role}, nil)
}

// masterAdminToken is an access token of the master realm's admin.
func masterAdminToken(ctx context.Context, p *Provider) (string, error) {
	base, ok := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm)
	if !ok || p.Name != "keycloak" {
		return "", fmt.Errorf("testidp: %s is not a Keycloak realm issuer", p.Issuer())
	}
	b, err := postForm(ctx, &http.Client{Timeout: 30 * time.Second}, base+"/realms/master/protocol/openid-connect/token", url.Values{
		"grant_type": {"password"}, "client_id": {"admin-cli"},
		"username": {KeycloakAdminUser}, "password": {KeycloakAdminPassword},
	})
	if err != nil {
		return "", fmt.Errorf("testidp: keycloak admin token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("testidp: keycloak admin token: %v: %.200s", err, b)
	}
	return t.AccessToken, nil
}

// serviceAccountCallJSON is serviceAccountCall with a JSON body.
func serviceAccountCallJSON(ctx context.Context, p *Provider, method, path string, in, out any) error {
	tok, err := KeycloakServiceAccountToken(ctx, p)
	if err != nil {
		return err
	}
	return adminCall(ctx, p, tok, method, path, in, out)
}

// adminCall calls the realm's admin REST API at path (below
// /admin/realms/acme) with token, in as its JSON body when not nil.
func adminCall(ctx context.Context, p *Provider, token, method, path string, in, out any) error {
	base, _ := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm)
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/admin/realms/"+KeycloakRealm+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("testidp: keycloak admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
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

// UseKeycloakUsernameFirstFlow makes clientID's browser logins
// username-then-password: a flow of Keycloak's Username Form and then its
// Password Form, bound to the client as its browser flow override. The
// returned func restores the client and removes the flow.
func UseKeycloakUsernameFirstFlow(ctx context.Context, p *Provider, clientID string) (restore func() error, err error) {
	tok, err := masterAdminToken(ctx, p)
	if err != nil {
		return nil, err
	}
	call := func(method, path string, in, out any) error { return adminCall(ctx, p, tok, method, path, in, out) }
	const alias = "username-first"
	if err := call(http.MethodPost, "/authentication/flows", map[string]any{
		"alias": alias, "providerId": "basic-flow", "topLevel": true, "builtIn": false, "description": "username, then password",
	}, nil); err != nil {
		return nil, err
	}
	removeFlow := func(flowID string) error {
		return call(http.MethodDelete, "/authentication/flows/"+url.PathEscape(flowID), nil, nil)
	}
	var flowID string
	var flows []struct{ ID, Alias string }
	if err := call(http.MethodGet, "/authentication/flows", nil, &flows); err != nil {
		return nil, err
	}
	for _, f := range flows {
		if f.Alias == alias {
			flowID = f.ID
		}
	}
	if flowID == "" {
		return nil, fmt.Errorf("testidp: the new flow %s is not listed", alias)
	}
	for _, provider := range []string{"auth-username-form", "auth-password-form"} {
		if err := call(http.MethodPost, "/authentication/flows/"+alias+"/executions/execution", map[string]any{"provider": provider}, nil); err != nil {
			removeFlow(flowID)
			return nil, err
		}
	}
	var execs []map[string]any
	if err := call(http.MethodGet, "/authentication/flows/"+alias+"/executions", nil, &execs); err != nil {
		removeFlow(flowID)
		return nil, err
	}
	for _, e := range execs {
		e["requirement"] = "REQUIRED"
		if err := call(http.MethodPut, "/authentication/flows/"+alias+"/executions", e, nil); err != nil {
			removeFlow(flowID)
			return nil, err
		}
	}
	var clients []map[string]any
	if err := call(http.MethodGet, "/clients?clientId="+url.QueryEscape(clientID), nil, &clients); err != nil || len(clients) != 1 {
		removeFlow(flowID)
		return nil, fmt.Errorf("testidp: client %s: %v (%d found)", clientID, err, len(clients))
	}
	c := clients[0]
	id, _ := c["id"].(string)
	c["authenticationFlowBindingOverrides"] = map[string]any{"browser": flowID}
	if err := call(http.MethodPut, "/clients/"+id, c, nil); err != nil {
		removeFlow(flowID)
		return nil, err
	}
	return func() error {
		tok, err := masterAdminToken(context.Background(), p)
		if err != nil {
			return err
		}
		// An override is removed by an empty value; an empty map keeps it.
		c["authenticationFlowBindingOverrides"] = map[string]any{"browser": ""}
		if err := adminCall(context.Background(), p, tok, http.MethodPut, "/clients/"+id, c, nil); err != nil {
			return err
		}
		return adminCall(context.Background(), p, tok, http.MethodDelete, "/authentication/flows/"+url.PathEscape(flowID), nil, nil)
	}, nil
}
