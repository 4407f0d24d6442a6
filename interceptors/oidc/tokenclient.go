package oidc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/interception"
)

// requestClientID finds the client of a token request: form client_id,
// HTTP Basic, or the issuer of a client assertion. The IdP authenticates
// the client; a token response only exists if it succeeded.
func requestClientID(r *http.Request, form url.Values) string {
	// HTTP Basic first: it is what the IdP authenticates. A form client_id
	// that disagrees with it makes the client unknown until the tokens
	// name it: hooks are then chosen from the answer, never skipped on a
	// claim the IdP may not have checked.
	formID := form.Get("client_id")
	if scheme, cred := interception.SplitAuthorization(r.Header.Get("Authorization")); strings.EqualFold(scheme, "basic") {
		id, ok := interception.BasicUser(cred)
		if !ok {
			// The IdP may read credentials idphooks cannot: the client
			// is unknown until the tokens name it.
			return ""
		}
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if formID != "" && formID != id {
			return ""
		}
		return id
	}
	if formID != "" {
		return formID
	}
	if a := form.Get("client_assertion"); a != "" {
		parts := strings.Split(a, ".")
		if len(parts) == 3 {
			if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				var c struct {
					Iss string `json:"iss"`
				}
				if json.Unmarshal(b, &c) == nil {
					return c.Iss
				}
			}
		}
	}
	return ""
}

func tokenClientID(idTok, atTok *verified) string {
	if idTok != nil {
		if azp, ok := idTok.Claims["azp"].(string); ok && azp != "" {
			return azp
		}
		if aud, ok := idTok.Claims["aud"].(string); ok {
			return aud
		}
		if auds, ok := idTok.Claims["aud"].([]any); ok && len(auds) == 1 {
			if s, ok := auds[0].(string); ok {
				return s
			}
		}
	}
	if atTok != nil {
		for _, k := range []string{"client_id", "azp"} {
			if s, ok := atTok.Claims[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

// unverifiedClient names the client of an ID token (its azp, or its only
// aud) or else of an access token (client_id, azp), unverified; "" when
// they name none, or name different ones.
func unverifiedClient(idt, at string) string {
	var fromID, fromAT string
	if c := peekClaims(idt); c != nil {
		if fromID = tokenClientID(&verified{Claims: c}, nil); fromID == "" {
			return ""
		}
	}
	if c := peekClaims(at); c != nil {
		// The order tokenClientID reads a verified access token in.
		fromAT = tokenClientID(nil, &verified{Claims: c})
	}
	switch {
	case fromID == "":
		return fromAT
	case fromAT == "" || fromAT == fromID:
		return fromID
	}
	return ""
}

// peekClaims decodes a compact JWS's claims unverified, or nil.
func peekClaims(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c
}

// bearerClientID names the client of an access token the IdP has just
// accepted (a 200 at userinfo): its azp or client_id claim. The token is
// not verified here; the IdP's acceptance of it is the proof.
func bearerClientID(tok string) string {
	if strings.Count(tok, ".") != 2 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		return ""
	}
	var c struct {
		Azp      string `json:"azp"`
		ClientID string `json:"client_id"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	if c.Azp != "" {
		return c.Azp
	}
	return c.ClientID
}

func audienceHas(aud any, id string) bool {
	switch a := aud.(type) {
	case string:
		return a == id
	case []any:
		for _, x := range a {
			if x == id {
				return true
			}
		}
	}
	return false
}
