package testidp

import (
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
	tok, err := KeycloakServiceAccountToken(ctx, p)
	if err != nil {
		return err
	}
	base, _ := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm)
	req, err := http.NewRequestWithContext(ctx, method, base+"/admin/realms/"+KeycloakRealm+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
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
