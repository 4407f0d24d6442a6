package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func keycloakForms(t *testing.T, k KeycloakForms) *FormsConfig {
	t.Helper()
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return &FormsConfig{ProfileRaw: withName(raw, "keycloak")}
}

// TestProvisionFormsOnly: a forms block without upstream provisions the
// forms interceptor alone, from the profile's realm URL.
func TestProvisionFormsOnly(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	hook := writeHook(t, dir, "journey.js", `exports.onAfterIdentification = (e, api) => {};`)
	h := &Handler{StatePath: filepath.Join(dir, "state.db"), Hooks: []HookConfig{{Path: hook}},
		Forms: keycloakForms(t, KeycloakForms{RealmURL: "http://keycloak:8080/realms/acme"})}
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.forms == nil || h.oidc != nil || h.saml != nil {
		t.Fatalf("forms=%v oidc=%v saml=%v, want forms alone", h.forms != nil, h.oidc != nil, h.saml != nil)
	}
}

func TestProvisionFormsErrors(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	migrate := writeHook(t, dir, "migrate.js", `exports.onBeforePasswordValidation = (e, api) => { api.accept() };`)
	other := writeHook(t, dir, "other.js", `exports.onAfterIdentification = (e, api) => {};`)
	admin := KeycloakForms{RealmURL: "http://kc/realms/acme", AdminClientID: "a", AdminClientSecret: "s"}
	for _, tc := range []struct {
		name  string
		h     Handler
		want  string
		noErr bool
	}{
		{name: "no realm", h: Handler{Hooks: []HookConfig{{Path: other}}, Forms: keycloakForms(t, KeycloakForms{})}, want: "realm_url is required"},
		{name: "not a realm URL", h: Handler{Hooks: []HookConfig{{Path: other}}, Forms: keycloakForms(t, KeycloakForms{RealmURL: "http://kc/auth"})}, want: "must end in /realms/<realm>"},
		{name: "migration without admin client", h: Handler{Hooks: []HookConfig{{Path: migrate}}, Forms: keycloakForms(t, KeycloakForms{RealmURL: "http://kc/realms/acme"})}, want: "needs the profile's admin_client"},
		{name: "migration async", h: Handler{Hooks: []HookConfig{{Path: migrate, Mode: "async"}}, Forms: keycloakForms(t, admin)}, want: "cannot run async"},
		{name: "admin client without secret", h: Handler{Hooks: []HookConfig{{Path: other}}, Forms: keycloakForms(t, KeycloakForms{RealmURL: "http://kc/realms/acme", AdminClientID: "a"})}, want: "admin_client needs a client id and a secret"},
		{name: "migration with admin client", h: Handler{Hooks: []HookConfig{{Path: migrate}}, Forms: keycloakForms(t, admin)}, noErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.StatePath = filepath.Join(t.TempDir(), "state.db")
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if tc.noErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func genericForms(t *testing.T, g GenericForms) *FormsConfig {
	t.Helper()
	raw, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	return &FormsConfig{ProfileRaw: withName(raw, "generic")}
}

func TestProvisionFormsProfiles(t *testing.T) {
	ctx, _ := provisionContext(t)
	dir := t.TempDir()
	hook := writeHook(t, dir, "journey.js", `exports.onAfterIdentification = (e, api) => {};`)
	login := &GenericForm{Paths: []string{"/login"}, Identifiers: []string{"username"}, Password: "password", Form: "form[name=f]", Error: ".error"}
	// Each case has its own: provisioning clears the raw module.
	ssp := func() *FormsConfig { return &FormsConfig{ProfileRaw: json.RawMessage(`{"name":"simplesamlphp"}`)} }
	for _, tc := range []struct {
		name  string
		forms *FormsConfig
		apps  []string
		want  string
	}{
		{name: "simplesamlphp", forms: ssp()},
		{name: "generic", forms: genericForms(t, GenericForms{Login: login, Application: "client_id", PHP: true, Reasons: []GenericReason{{"wrong", "invalid_credentials"}}}), apps: []string{"web"}},
		{name: "simplesamlphp and a hook limited to applications", forms: ssp(), apps: []string{"urn:sp"}, want: "cannot tell the application of after_identification"},
		{name: "generic bad selector", forms: genericForms(t, GenericForms{Login: &GenericForm{Paths: []string{"/login"}, Identifiers: []string{"u"}, Password: "p", Form: "form > x", Error: ".e"}}), want: "login: form: selector"},
		{name: "generic unknown reason", forms: genericForms(t, GenericForms{Login: login, Reasons: []GenericReason{{"x", "bad_luck"}}}), want: `unknown reason "bad_luck"`},
		{name: "generic login without password", forms: genericForms(t, GenericForms{Login: &GenericForm{Paths: []string{"/login"}, Identifiers: []string{"u"}, Form: "form", Error: ".e"}}), want: "a password field is required"},
		{name: "generic relative path", forms: genericForms(t, GenericForms{Login: &GenericForm{Paths: []string{"login"}, Identifiers: []string{"u"}, Password: "p", Form: "form", Error: ".e"}}), want: "must start with /"},
		{name: "generic alert without message", forms: genericForms(t, GenericForms{Login: login, Alert: "<p>x</p>"}), want: "alert must hold {message}"},
		{name: "generic no form", forms: genericForms(t, GenericForms{}), want: "at least one of login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{StatePath: filepath.Join(t.TempDir(), "state.db"), Hooks: []HookConfig{{Path: hook, Applications: tc.apps}}, Forms: tc.forms}
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A generic profile's trim and fold reach its reading of posts.
func TestGenericTrimFold(t *testing.T) {
	g := &GenericForms{Login: &GenericForm{Paths: []string{"/login"}, Identifiers: []string{"username"}, Password: "password", Form: "form", Error: ".error"},
		Trim: true, Fold: []string{"username", "email"}, PHP: true}
	p, _, err := g.FormsProfile("")
	if err != nil {
		t.Fatal(err)
	}
	rd := p.Reading()
	if !rd.Trim || len(rd.Fold) != 2 || !rd.PHP || !rd.Query {
		t.Fatalf("reading %+v", rd)
	}
}
