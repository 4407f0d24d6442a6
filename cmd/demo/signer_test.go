package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestSigner tells the IdP's signature from idphooks' by the key that
// verifies it, not by the kid alone.
func TestSigner(t *testing.T) {
	idpKey, oursKey, strayKey := newKey(t, "idp-1"), newKey(t, "ours-1"), newKey(t, "stray")
	idp := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{idpKey.Public()}}
	// idphooks publishes the IdP's keys beside its own.
	ours := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{oursKey.Public(), idpKey.Public()}}
	ks := keySets{idphooks: ours, idp: idp}

	forged := strayKey
	forged.KeyID = "ours-1"
	for _, c := range []struct {
		name string
		key  jose.JSONWebKey
		want string
	}{
		{"IdP", idpKey, "signed by the IdP (kid idp-1, ES256, typ JWT) — untouched"},
		{"idphooks", oursKey, "signed by idphooks (kid ours-1, ES256, typ JWT)"},
		{"kid of idphooks, other key", forged, "kid ours-1, ES256, typ JWT names a key of idphooks, but the signature does not verify with it"},
		{"unknown kid", strayKey, "kid stray, ES256, typ JWT: a key neither idphooks nor the IdP publishes"},
	} {
		if got := signer(sign(t, c.key), ks); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got := signer("opaque-token", ks); got != "not a JWS the page can read" {
		t.Errorf("opaque: %q", got)
	}
}

func newKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
}

func sign(t *testing.T, key jose.JSONWebKey) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(`{"sub":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact
}
