package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// keySets are the key sets a token on the page may be signed with. The
// set idphooks publishes holds the IdP's keys too (upstream_keys on), so a
// kid found in the IdP's own set means the IdP signed.
type keySets struct {
	idphooks, idp jose.JSONWebKeySet
}

// signingAlgs are the JWS algorithms the page reads.
var signingAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// fetchKeySets reads idphooks' key set at idphooksURI (discovery's
// jwks_uri, through Caddy) and the IdP's at idpURI (the provider itself,
// not through Caddy).
func fetchKeySets(ctx context.Context, idphooksURI, idpURI string) (keySets, error) {
	var ks keySets
	if err := fetchJWKS(ctx, idphooksURI, &ks.idphooks); err != nil {
		return ks, err
	}
	return ks, fetchJWKS(ctx, idpURI, &ks.idp)
}

func fetchJWKS(ctx context.Context, uri string, set *jose.JSONWebKeySet) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", uri, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, set); err != nil {
		return fmt.Errorf("GET %s: %w", uri, err)
	}
	return nil
}

// signer says who signed jwt: the JWS header's alg and kid, and whose key
// set holds that kid, checked by verifying the signature with that key.
func signer(jwt string, ks keySets) string {
	jws, head, err := parseJWS(jwt)
	if err != nil {
		return err.Error()
	}
	kid := jws.Signatures[0].Header.KeyID
	who, set := "the IdP", ks.idp
	if len(set.Key(kid)) == 0 {
		who, set = "idphooks", ks.idphooks
	}
	keys := set.Key(kid)
	if len(keys) == 0 {
		return head + ": a key neither idphooks nor the IdP publishes"
	}
	for _, k := range keys {
		if _, err := jws.Verify(k); err == nil {
			if who == "the IdP" {
				return "signed by the IdP (" + head + ") — untouched"
			}
			return "signed by idphooks (" + head + ")"
		}
	}
	return head + " names a key of " + who + ", but the signature does not verify with it"
}

// parseJWS parses a compact JWS with one signature and describes its
// header: "kid …, RS256[, typ …]".
func parseJWS(jwt string) (*jose.JSONWebSignature, string, error) {
	jws, err := jose.ParseSigned(jwt, signingAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", errors.New("not a JWS the page can read")
	}
	h := jws.Signatures[0].Header
	head := "kid " + h.KeyID + ", " + h.Algorithm
	if typ, ok := h.ExtraHeaders["typ"].(string); ok {
		head += ", typ " + typ
	}
	return jws, head, nil
}
