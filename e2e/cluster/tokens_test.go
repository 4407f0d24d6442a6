package cluster

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/internal/testidp"
)

// tokenAnswer is one answer of the token endpoint.
type tokenAnswer struct {
	status int
	body   string
	access string // the access token of a 200
	id     string // its ID token
	err    error  // the request did not get an answer
}

// refreshGrant redeems refreshToken for client cl (client_secret_post)
// at the public issuer's token endpoint, through client.
func refreshGrant(client *http.Client, issuer string, cl testidp.Client, refreshToken string) tokenAnswer {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
		"client_id": {cl.ID}, "client_secret": {cl.Secret}}
	resp, err := client.PostForm(issuer+"/token", form)
	if err != nil {
		return tokenAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := tokenAnswer{status: resp.StatusCode, body: string(b), err: err}
	if resp.StatusCode == http.StatusOK {
		var tr struct {
			AccessToken string `json:"access_token"`
			IDToken     string `json:"id_token"`
		}
		if err := json.Unmarshal(b, &tr); err != nil {
			a.err = err
		}
		a.access, a.id = tr.AccessToken, tr.IDToken
	}
	return a
}

// unavailable reports whether a is the documented answer of idphooks'
// state being away: 503 {"error":"temporarily_unavailable"}.
func (a tokenAnswer) unavailable() bool {
	var e struct {
		Error string `json:"error"`
	}
	return a.err == nil && a.status == http.StatusServiceUnavailable &&
		json.Unmarshal([]byte(a.body), &e) == nil && e.Error == "temporarily_unavailable"
}

// hintStatus sends idToken as id_token_hint to the IdP's end-session
// endpoint through client and returns the status, without logging out:
// oidc-provider answers its confirmation page (200) when it can verify
// the hint with its own keys, so only a hint idphooks swapped back for
// the IdP's original passes, and 400 otherwise.
func hintStatus(t *testing.T, client *http.Client, issuer, idToken string) (int, string) {
	t.Helper()
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {logoutURI}}
	resp, err := client.Get(issuer + "/session/end?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// userinfoClaims calls the IdP's userinfo endpoint through client with
// accessToken and returns the status and the claims of a 200.
func userinfoClaims(t *testing.T, client *http.Client, issuer, accessToken string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, issuer+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusOK {
		_ = json.NewDecoder(resp.Body).Decode(&m)
	}
	return resp.StatusCode, m
}
