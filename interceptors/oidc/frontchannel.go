package oidc

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// parPrefix starts the request_uri the IdP hands out for a pushed
// authorization request (RFC 9126); idphooks checked that request when it
// was pushed.
const parPrefix = "urn:ietf:params:oauth:request_uri:"

// checkFrontChannel refuses, while before_token hooks (or userinfo hooks
// limited to some applications) exist, authorization requests (and pushed
// ones) that would have the IdP hand out an access or ID token in the
// redirect (implicit and hybrid response types): those tokens never pass
// the token endpoint, so no hook would see them, a deny hook would deny
// nothing, and userinfo would not know their client. A request object (RFC 9101) is read for
// its response_type; one idphooks cannot read (encrypted, or by reference
// to a URL the IdP would fetch) is refused alike.
func (i *Interceptor) checkFrontChannel(r *http.Request) error {
	if !i.frontChannelClosed() {
		return nil
	}
	query, form, err := interception.Params(r, i.cfg.MaxBody, frontChannelParams...)
	if err != nil {
		return err
	}
	return checkResponseType(query, form)
}

// frontChannelParams are what an authorization request says it wants.
var frontChannelParams = []string{"response_type", "request", "request_uri"}

// checkFrontChannelQuery is checkFrontChannel for a request on a path that
// is not an authorization endpoint: only its query is read (its body may
// be a login form, none of idphooks' business here).
func (i *Interceptor) checkFrontChannelQuery(r *http.Request) error {
	if !i.frontChannelClosed() {
		return nil
	}
	// Every query of every page passes here: most name neither parameter
	// in any spelling (no escape, no "response_type", no "request") and
	// need not be parsed.
	raw := strings.ToLower(r.URL.RawQuery)
	names := strings.Contains(raw, "response_type") || strings.Contains(raw, "request")
	if !names && strings.IndexByte(raw, '%') < 0 {
		return nil
	}
	// One Go cannot parse (a semicolon, a bad escape) is not refused for
	// that alone, as an asset's cache-buster may be such; the pairs that
	// parse are checked, and a raw query that names a response type
	// anyway is refused.
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		if names {
			return &interception.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed query string", Cause: err}
		}
	}
	if err := interception.Single(frontChannelParams, query); err != nil {
		return interception.RepeatedError(err)
	}
	return checkResponseType(query, nil)
}

// checkResponseType refuses response types that hand out tokens in the
// front channel, in the parameters or in a request object.
func checkResponseType(query, form url.Values) error {
	get := func(n string) string { return query.Get(n) + form.Get(n) }
	rt := get("response_type")
	if obj := get("request"); obj != "" {
		// Read unverified: the IdP verifies it; idphooks only needs to
		// know what it asks for.
		claims := peekClaims(obj)
		if claims == nil {
			return refuseFrontChannel("a request object idphooks cannot read")
		}
		if s, ok := claims["response_type"].(string); ok {
			rt += " " + s
		}
	}
	if u := get("request_uri"); u != "" && !strings.HasPrefix(u, parPrefix) {
		return refuseFrontChannel("a request object by reference")
	}
	for _, t := range strings.Fields(rt) {
		if strings.EqualFold(t, "token") || strings.EqualFold(t, "id_token") {
			return refuseFrontChannel("response_type " + t)
		}
	}
	return nil
}

// frontChannelClosed reports whether tokens may come only from the token
// endpoint.
func (i *Interceptor) frontChannelClosed() bool {
	d := i.cfg.Dispatcher
	return d.WantsEvent(events.BeforeToken) || d.HasFilteredHook(events.BeforeUserinfo)
}

func refuseFrontChannel(what string) error {
	return &interception.Error{
		Status: http.StatusBadRequest, Code: "unsupported_response_type",
		Description: what + " is not available: tokens must come from the token endpoint here (use response_type=code)",
	}
}
