package oidc

// Second attack round on the fixes of 88a8373 and ba64ddb. Each test fails
// while the attack works.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Keycloak's OIDCLoginProtocolService serves the authorization request at
// three sibling paths: "auth", "registrations" (endpoint.init().register())
// and "forgot-credentials" (endpoint.init().forgotCredentials()), each the
// full AuthorizationEndpoint with the client's response_type. Discovery
// names only ".../auth", so checkFrontChannel never sees the other two: an
// implicit-flow client gets response_type=token through the registration
// (or reset-password) page, and the token in the redirect fragment never
// passes a before_token deny hook. The fake IdP names its authorization
// endpoint /authorize and answers the Keycloak siblings as Keycloak does.
func TestAttack2KeycloakRegistrationsSkipsFrontChannelRefusal(t *testing.T) {
	idp := newTestIdP(t)
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/registrations", "/forgot-credentials":
			q := r.URL.Query()
			if strings.Contains(q.Get("response_type"), "token") {
				http.Redirect(w, r, q.Get("redirect_uri")+"#access_token=opaque-at-9&token_type=Bearer&state="+q.Get("state"), http.StatusFound)
				return
			}
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: denyHook}}, nil)
	// Sanity: the discovery-named endpoint is refused.
	if w := h.do(httptest.NewRequest(http.MethodGet, "http://idp.test/authorize?client_id=web&response_type=token&redirect_uri=http://rp/cb&state=s", nil)); w.Code != http.StatusBadRequest {
		t.Fatalf("/authorize response_type=token: %d, want 400", w.Code)
	}
	for _, p := range []string{"/registrations", "/forgot-credentials"} {
		r := httptest.NewRequest(http.MethodGet, "http://idp.test"+p+"?client_id=web&response_type=token&redirect_uri=http://rp/cb&state=s", nil)
		w := h.do(r)
		if loc := w.Header().Get("Location"); w.Code != http.StatusBadRequest || strings.Contains(loc, "access_token=") {
			t.Errorf("%s response_type=token: %d, Location %s: a token the deny hook never saw", p, w.Code, loc)
		}
	}
}

// Keycloak's AccessTokenIntrospectionProvider, for a client with "Support
// JWT claim in Introspection Response" and a request with Accept:
// application/jwt, adds a "jwt" member to the JSON answer:
// session.tokens().encode(accessToken), the IdP's original access token,
// every claim a hook removed in it, and signed by the IdP (a bearer token
// that idphooks never swaps and whose edits nothing replays). idphooks
// edits only the top-level members of the answer.
func TestAttack2IntrospectionJWTMemberRevealsOriginalToken(t *testing.T) {
	idp := newTestIdP(t)
	now := time.Now()
	var upstreamAT string
	idp.token = func(w http.ResponseWriter, r *http.Request) {
		upstreamAT = idp.sign(jwt.MapClaims{
			"iss": idp.srv.URL, "sub": "alice", "aud": "api", "client_id": "web", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "jti": "j1", "scope": "openid", "email": "alice@example.com", "roles": []string{"admin"},
		}, jwt.SigningMethodRS256, idp.key, "at+jwt")
		w.Header().Set("Content-Type", "application/json")
		w.Write(idp.tokenResponse(upstreamAT))
	}
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/introspect" {
			r.ParseForm()
			tok := r.PostForm.Get("token")
			claims := map[string]any{}
			if parts := strings.Split(tok, "."); len(parts) == 3 {
				b, _ := base64.RawURLEncoding.DecodeString(parts[1])
				json.Unmarshal(b, &claims)
			}
			claims["active"] = true
			if r.Header.Get("Accept") == "application/jwt" {
				claims["jwt"] = tok // Keycloak re-encodes the same token
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(claims)
			return
		}
		orig.ServeHTTP(w, r)
	})
	h := newHarness(t, idp, []hookSpec{{src: `exports.onBeforeToken = (e, api) => { api.accessToken.removeClaim("email"); api.accessToken.setClaim("roles", []) }`}}, nil)
	w := h.do(tokenRequest(codeForm()))
	var resp map[string]string
	json.Unmarshal(w.Body.Bytes(), &resp)
	at := resp["access_token"]
	if w.Code != 200 || at == upstreamAT || strings.Contains(claimsJSON(at), "email") {
		t.Fatalf("token: %d %s", w.Code, claimsJSON(at))
	}
	r := rawRequest(http.MethodPost, "http://idp.test/introspect", "application/x-www-form-urlencoded", []byte("token="+at))
	r.SetBasicAuth("api", "secret")
	r.Header.Set("Accept", "application/jwt")
	w = h.do(r)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	if _, ok := out["email"]; ok {
		t.Fatalf("top-level email kept: %s", w.Body)
	}
	inner, _ := out["jwt"].(string)
	if inner == upstreamAT || strings.Contains(claimsJSON(inner), "email") || strings.Contains(claimsJSON(inner), "admin") {
		t.Errorf("introspection jwt member is the IdP's original token with the removed claims: %s", claimsJSON(inner))
	}
}
