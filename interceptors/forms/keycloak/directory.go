package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/idphooks/idphooks/interceptors/forms"
)

// Directory is a realm's user store through Keycloak's admin REST API, as
// an admin client sees it: a confidential client of the realm with a
// service account holding realm-management's view-users and manage-users
// roles. It lets before_password_validation move users into Keycloak.
type Directory struct {
	base, realm    string
	clientID       string
	secret         string
	http           *http.Client
	mu             sync.Mutex
	token          string
	tokenExpiresAt time.Time
}

// adminTimeout bounds one admin API call: a login waits on it.
const adminTimeout = 5 * time.Second

// NewDirectory returns the directory of realm on the Keycloak at base
// (scheme://host[:port][/prefix], where /realms/<realm> lives).
func NewDirectory(base, realm, clientID, secret string) *Directory {
	return &Directory{base: strings.TrimSuffix(base, "/"), realm: realm, clientID: clientID, secret: secret,
		http: &http.Client{Timeout: adminTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
}

// Known asks whether the realm has a user by that username, or by that
// email for an identifier that looks like one (Keycloak logs in by
// either).
func (d *Directory) Known(ctx context.Context, identifier string) (bool, error) {
	u, err := d.find(ctx, identifier)
	return u != nil, err
}

// User is the realm's user by that username or email as events show
// users: sub (Keycloak's user id), username, email.
func (d *Directory) User(ctx context.Context, identifier string) (map[string]any, error) {
	u, err := d.find(ctx, identifier)
	if u == nil || err != nil {
		return nil, err
	}
	user := map[string]any{"sub": u.ID, "username": u.Username}
	if u.Email != "" {
		user["email"] = u.Email
	}
	return user, nil
}

type userRecord struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

// find looks identifier up as a username, then as an email for one that
// looks like one; nil for nobody.
func (d *Directory) find(ctx context.Context, identifier string) (*userRecord, error) {
	queries := []string{"username"}
	if strings.Contains(identifier, "@") {
		queries = append(queries, "email")
	}
	for _, q := range queries {
		var users []userRecord
		u := d.adminURL("users") + "?" + url.Values{q: {identifier}, "exact": {"true"}, "briefRepresentation": {"true"}, "max": {"1"}}.Encode()
		if err := d.call(ctx, http.MethodGet, u, nil, &users); err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return &users[0], nil
		}
	}
	return nil, nil
}

// Create adds the user, enabled, with the password as a credential that
// need not be changed.
func (d *Directory) Create(ctx context.Context, u forms.NewUser) error {
	body := map[string]any{
		"username": u.Username, "enabled": true,
		"credentials": []map[string]any{{"type": "password", "value": u.Password, "temporary": false}},
	}
	if u.Email != "" {
		body["email"] = u.Email
	}
	if u.FirstName != "" {
		body["firstName"] = u.FirstName
	}
	if u.LastName != "" {
		body["lastName"] = u.LastName
	}
	if len(u.Attributes) > 0 {
		body["attributes"] = u.Attributes
	}
	err := d.call(ctx, http.MethodPost, d.adminURL("users"), body, nil)
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusConflict {
		return forms.ErrUserExists
	}
	return err
}

func (d *Directory) adminURL(p string) string {
	return d.base + "/admin/realms/" + url.PathEscape(d.realm) + "/" + p
}

// statusError is an admin API answer other than success. It never holds
// the request: a Create's carries a password.
type statusError struct {
	status int
	what   string
	body   string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("keycloak admin API: %s: HTTP %d: %s", e.what, e.status, e.body)
}

// call makes one admin API call with the service account's token, and
// once more with a new token when Keycloak says the old one is no good.
func (d *Directory) call(ctx context.Context, method, u string, in, out any) error {
	for attempt := 0; ; attempt++ {
		tok, err := d.accessToken(ctx, attempt > 0)
		if err != nil {
			return err
		}
		var body io.Reader
		if in != nil {
			b, err := json.Marshal(in)
			if err != nil {
				return err
			}
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := d.http.Do(req)
		if err != nil {
			return fmt.Errorf("keycloak admin API: %s %s: %w", method, strings.SplitN(u, "?", 2)[0], err)
		}
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			continue
		}
		if resp.StatusCode/100 != 2 {
			return &statusError{status: resp.StatusCode, what: method + " " + strings.SplitN(u, "?", 2)[0], body: short(b)}
		}
		if rerr != nil {
			return rerr
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("keycloak admin API: %s: %w", u, err)
			}
		}
		return nil
	}
}

// accessToken is the service account's token, fetched anew shortly
// before it expires (or when fresh is asked).
func (d *Directory) accessToken(ctx context.Context, fresh bool) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !fresh && d.token != "" && time.Now().Before(d.tokenExpiresAt) {
		return d.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {d.clientID}, "client_secret": {d.secret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		d.base+"/realms/"+url.PathEscape(d.realm)+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := d.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("keycloak admin client token: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{status: resp.StatusCode, what: "admin client token", body: short(b)}
	}
	var t struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("keycloak admin client token: unreadable answer")
	}
	d.token = t.AccessToken
	d.tokenExpiresAt = time.Now().Add(time.Duration(max(t.ExpiresIn-30, 5)) * time.Second)
	return d.token, nil
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Interface guards.
var (
	_ forms.Directory = (*Directory)(nil)
	_ forms.Resolver  = (*Directory)(nil)
	_ forms.Sessions  = (*Profile)(nil)
	_ forms.Profile   = (*Profile)(nil)
)
