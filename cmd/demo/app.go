package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// app is the demo relying party. It knows only the issuer (Caddy's origin):
// endpoints and keys come from the discovery document idphooks rewrote, so
// the tokens it accepts are verified with idphooks' published key set.
//
// For the page alone, it also reads what the IdP issued (issued, recorded
// at the provider) and the IdP's own key set (idpJWKS), to show what
// idphooks changed and who signed; neither decides what it accepts.
type app struct {
	issuer   string
	provider *oidc.Provider
	idTokens *oidc.IDTokenVerifier
	atTokens *oidc.IDTokenVerifier // JWT access tokens: signature, iss, exp
	oauth    oauth2.Config
	jwksURI  string
	issued   *recorder
	idpJWKS  string
	mux      *http.ServeMux

	mu      sync.Mutex
	pending map[string]pendingLogin // by state
}

type pendingLogin struct {
	nonce, verifier string
	created         time.Time
}

const stateCookie = "idphooks_demo_state"

func newApp(ctx context.Context, issuer, appURL string, issued *recorder, idpJWKS string) (*app, error) {
	var provider *oidc.Provider
	err := waitFor(ctx, 15*time.Second, func(ctx context.Context) error {
		var err error
		provider, err = oidc.NewProvider(ctx, issuer)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("discovery through Caddy: %w", err)
	}
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, err
	}
	endpoint := provider.Endpoint()
	// The demo client authenticates with client_secret_basic. Saying so
	// also keeps oauth2 from retrying a failed exchange with the secret in
	// the form, which would replay the (then used) code and hide the
	// hook's access_denied behind invalid_grant.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	a := &app{
		issuer:   issuer,
		provider: provider,
		idTokens: provider.Verifier(&oidc.Config{ClientID: demoClientID}),
		atTokens: provider.Verifier(&oidc.Config{SkipClientIDCheck: true}),
		oauth: oauth2.Config{
			ClientID:     demoClientID,
			ClientSecret: demoClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  appURL + "/callback",
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
		},
		jwksURI: meta.JWKSURI,
		issued:  issued,
		idpJWKS: idpJWKS,
		mux:     http.NewServeMux(),
		pending: map[string]pendingLogin{},
	}
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET /login", a.login)
	a.mux.HandleFunc("GET /callback", a.callback)
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, pageData{Issuer: a.issuer, JWKSURI: a.jwksURI})
}

// login starts the authorization code flow (with PKCE and a nonce) at the
// authorization endpoint discovered through Caddy.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	a.mu.Lock()
	for s, p := range a.pending {
		if time.Since(p.created) > 10*time.Minute {
			delete(a.pending, s)
		}
	}
	a.pending[state] = pendingLogin{nonce: nonce, verifier: verifier, created: time.Now()}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: state, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 600,
	})
	u := a.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	http.Redirect(w, r, u, http.StatusFound)
}

// callback redeems the code through Caddy (where the hook runs), verifies
// the ID token (signature with idphooks' JWKS, nonce, at_hash), verifies
// the access token if it is a JWT, calls userinfo through Caddy and shows
// it all.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	fail := func(status int, title, detail string) {
		a.render(w, status, pageData{Issuer: a.issuer, JWKSURI: a.jwksURI, Error: &pageError{title, detail}})
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "The provider returned "+e, q.Get("error_description"))
		return
	}
	c, err := r.Cookie(stateCookie)
	state := q.Get("state")
	if err != nil || state == "" || c.Value != state {
		fail(http.StatusBadRequest, "Invalid state", "The login did not start in this browser; log in again.")
		return
	}
	a.mu.Lock()
	p, ok := a.pending[state]
	delete(a.pending, state)
	a.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "Unknown or used state", "Log in again.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/", MaxAge: -1})

	code := q.Get("code")
	tok, err := a.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "access_denied" {
			fail(http.StatusForbidden, "Access denied by the hook", re.ErrorDescription)
			return
		}
		fail(http.StatusBadGateway, "Token request failed", err.Error())
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		fail(http.StatusBadGateway, "No ID token", "The token response carries no id_token.")
		return
	}
	idt, err := a.idTokens.Verify(ctx, rawID)
	if err != nil {
		fail(http.StatusBadGateway, "ID token rejected", err.Error())
		return
	}
	if idt.Nonce != p.nonce {
		fail(http.StatusBadGateway, "ID token rejected", "nonce mismatch")
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		fail(http.StatusBadGateway, "ID token rejected", "at_hash: "+err.Error())
		return
	}
	data := pageData{Issuer: a.issuer, JWKSURI: a.jwksURI, LoggedIn: true}
	var idClaims map[string]any
	if err := idt.Claims(&idClaims); err != nil {
		fail(http.StatusBadGateway, "ID token unreadable", err.Error())
		return
	}
	data.Subject = idt.Subject

	// Everything below the checks is for the page: what the IdP issued,
	// and the key sets that tell who signed.
	orig, _ := a.issued.tokensFor(code)
	ks, err := fetchKeySets(ctx, a.jwksURI, a.idpJWKS)
	signedBy := func(jwt string) string { return signer(jwt, ks) }
	if err != nil {
		msg := "key sets unavailable: " + err.Error()
		signedBy = func(string) string { return msg }
	}
	origID, _ := jwtClaims(orig.IDToken)
	data.Sections = append(data.Sections, section{
		Title: "ID token", ID: "id-token",
		Signer: signedBy(rawID), Original: originalNote(orig.IDToken),
		Note:   "The application checked: the signature against idphooks' key set, iss, aud, exp, nonce and at_hash.",
		Claims: compareClaims(idClaims, origID),
	})

	if isJWT(tok.AccessToken) {
		at, err := a.atTokens.Verify(ctx, tok.AccessToken)
		if err != nil {
			fail(http.StatusBadGateway, "Access token rejected", err.Error())
			return
		}
		var atClaims map[string]any
		if err := at.Claims(&atClaims); err != nil {
			fail(http.StatusBadGateway, "Access token unreadable", err.Error())
			return
		}
		origAT, _ := jwtClaims(orig.AccessToken)
		data.Sections = append(data.Sections, section{
			Title: "Access token (JWT)", ID: "access-token",
			Signer: signedBy(tok.AccessToken), Original: originalNote(orig.AccessToken),
			Note:   "The application checked: the signature against idphooks' key set, iss and exp.",
			Claims: compareClaims(atClaims, origAT),
		})
	} else {
		data.Sections = append(data.Sections, section{Title: "Access token", ID: "access-token", Note: "opaque (not a JWT)"})
	}

	ui, err := a.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		fail(http.StatusBadGateway, "Userinfo request failed", err.Error())
		return
	}
	var uiClaims map[string]any
	if err := ui.Claims(&uiClaims); err != nil {
		fail(http.StatusBadGateway, "Userinfo unreadable", err.Error())
		return
	}
	// idphooks swaps its access token back before userinfo reaches the
	// provider, so the IdP's answer is recorded under the IdP's token.
	origUI, ok := a.issued.userinfoFor(orig.AccessToken)
	origNote := "The IdP's original answer: recorded at the provider."
	if !ok {
		origNote = "The IdP's original answer was not recorded: nothing is marked."
	}
	data.Sections = append(data.Sections, section{
		Title: "Userinfo", ID: "userinfo", Original: origNote,
		Note:   "GET " + a.provider.UserInfoEndpoint() + " with the access token above: plain JSON, not signed.",
		Claims: compareClaims(uiClaims, origUI),
	})
	a.render(w, http.StatusOK, data)
}

// originalNote describes the IdP's original of a token on the page.
func originalNote(jwt string) string {
	if !isJWT(jwt) {
		return "The IdP's original was not recorded: nothing is marked."
	}
	_, head, err := parseJWS(jwt)
	if err != nil {
		return "The IdP's original (recorded at the provider): " + err.Error() + "."
	}
	return "The IdP's original (recorded at the provider) was signed with " + head + "."
}

type section struct {
	Title, ID string
	Signer    string // who signed the token the application got
	Original  string // where the IdP's original comes from, who signed it
	Note      string // what the application checked
	Claims    []claimRow
}

type pageError struct{ Title, Detail string }

type pageData struct {
	Issuer, JWKSURI string
	LoggedIn        bool
	Subject         string
	Sections        []section
	Error           *pageError
}

func (a *app) render(w http.ResponseWriter, status int, data pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := page.Execute(w, data); err != nil {
		slog.Error("render", "err", err)
	}
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idphooks demo</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: .2rem; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
td, th { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.v { font-family: ui-monospace, monospace; word-break: break-all; }
td.m { white-space: nowrap; font-size: .85em; }
.added { background: #e3f6e1; }
.changed { background: #fff3c4; }
.removed { background: #fde2e1; color: #777; }
tr.unchanged td.m { color: #999; }
td.v del { color: #a33; }
.signer { font-weight: 600; margin-bottom: .2rem; }
.note { color: #666; font-size: .9em; margin: .2rem 0; }
.error { background: #fde2e1; border: 1px solid #e8a19d; padding: 1rem; border-radius: .4rem; }
.button { display: inline-block; background: #2456d3; color: white; padding: .5rem 1rem; border-radius: .3rem; text-decoration: none; }
code { background: #f3f3f3; padding: 0 .2rem; }
</style>
</head>
<body>
<h1>idphooks demo</h1>
<p class="sub">A relying party that trusts <code>{{.Issuer}}</code>: Caddy with idphooks in front of an OpenID provider. Keys: <code>{{.JWKSURI}}</code></p>
{{with .Error}}
<div class="error" id="error"><strong>{{.Title}}</strong><p>{{.Detail}}</p></div>
<p><a class="button" href="/login">Log in again</a></p>
{{else}}{{if .LoggedIn}}
<p>Logged in as <strong id="subject">{{.Subject}}</strong>. Each claim is compared with what the IdP issued, which the demo records at the provider, behind Caddy, for this page only (the application verifies against idphooks' keys alone): <span class="added">added</span>, <span class="changed">changed</span> (the IdP's value struck through → the one the application got) or <span class="removed">removed</span> (struck through: the IdP's value, which the application did not get), by <code>demo/claims.js</code> or idphooks.</p>
{{range .Sections}}
<h2 id="{{.ID}}">{{.Title}}</h2>
{{if .Signer}}<p class="signer" id="signer-{{.ID}}">{{.Signer}}</p>{{end}}
<p class="note">{{.Note}}</p>
{{with .Original}}<p class="note">{{.}}</p>{{end}}
{{if .Claims}}<table>
<tr><th>claim</th><th>value</th><th>vs. the IdP</th></tr>
{{range .Claims}}<tr class="{{.Mark}}">{{if eq .Mark "removed"}}<td class="n"><del>{{.Name}}</del></td><td class="v"><del>{{.Value}}</del></td>{{else}}<td class="n">{{.Name}}</td><td class="v">{{with .Old}}<del>{{.}}</del> → {{end}}{{.Value}}</td>{{end}}<td class="m">{{.Mark}}{{with .Why}}: {{.}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<p><a class="button" href="/login">Log in again</a> <a href="/">home</a></p>
{{else}}
<p><a class="button" href="/login" id="login">Log in</a></p>
<ul>
<li><strong>alice</strong> / <code>alice-password</code>: the hook adds <code>tier</code>, <code>roles</code> and <code>email_domain</code> to the ID token, changes <code>name</code> and removes <code>locale</code>; it adds more claims to the access token and userinfo.</li>
<li><strong>bob</strong> / <code>bob-password</code>: the provider accepts the password, the hook denies the token (<code>api.deny</code>).</li>
</ul>
{{end}}{{end}}
</body>
</html>
`))
