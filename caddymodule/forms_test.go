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
