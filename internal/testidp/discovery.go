package testidp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Discovery holds the fields of an OpenID Provider configuration document
// that tests commonly need.
type Discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	ScopesSupported       []string `json:"scopes_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	// Raw is the whole document.
	Raw map[string]any `json:"-"`
}

// FetchDiscovery reads baseURL+"/.well-known/openid-configuration". A nil
// httpClient means http.DefaultClient.
func FetchDiscovery(ctx context.Context, httpClient *http.Client, baseURL string) (*Discovery, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	u := strings.TrimSuffix(baseURL, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	body, err := doOK(httpClient, req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var d Discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	if err := json.Unmarshal(body, &d.Raw); err != nil {
		return nil, fmt.Errorf("discovery %s: %w", u, err)
	}
	return &d, nil
}

// waitDiscovery polls the discovery document until it answers 200, the
// timeout passes or exited is closed.
func waitDiscovery(ctx context.Context, baseURL string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		_, err := FetchDiscovery(ctx, hc, baseURL)
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited before discovery answered")
		case <-ctx.Done():
			return fmt.Errorf("discovery did not answer within %s: %w", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Introspect posts token to an RFC 7662 introspection endpoint, authenticated
// as client c, and returns the decoded JSON answer. A nil httpClient means
// http.DefaultClient.
func Introspect(ctx context.Context, httpClient *http.Client, endpoint string, c Client, token string) (map[string]any, error) {
	body, err := postClientForm(ctx, httpClient, endpoint, c, url.Values{"token": {token}})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("introspection: %w: %.200s", err, body)
	}
	return m, nil
}

// Revoke posts token to an RFC 7009 revocation endpoint, authenticated as
// client c. tokenTypeHint may be empty.
func Revoke(ctx context.Context, httpClient *http.Client, endpoint string, c Client, token, tokenTypeHint string) error {
	form := url.Values{"token": {token}}
	if tokenTypeHint != "" {
		form.Set("token_type_hint", tokenTypeHint)
	}
	_, err := postClientForm(ctx, httpClient, endpoint, c, form)
	return err
}

func postClientForm(ctx context.Context, httpClient *http.Client, endpoint string, c Client, form url.Values) ([]byte, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	useBasic := c.AuthStyle != oauth2.AuthStyleInParams
	if !useBasic {
		form.Set("client_id", c.ID)
		form.Set("client_secret", c.Secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if useBasic {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	return doOK(httpClient, req)
}

// doOK sends req and returns the body (at most 1 MiB) of a 200 answer; any
// other status is an error quoting the start of the body, which is also
// returned.
func doOK(httpClient *http.Client, req *http.Request) ([]byte, error) {
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("%s %s: HTTP %d: %.300s", req.Method, req.URL, resp.StatusCode, body)
	}
	return body, nil
}
