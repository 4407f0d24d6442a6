package saml

// Findings of an attack review of the Verifier and Signer called
// directly (no page, no binding), each with its fix; attack_test.go has
// those on the whole path.

import (
	"errors"
	"strings"
	"testing"
)

// wideDeclarations declares n unused prefixes, for a start tag.
func wideDeclarations(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(` xmlns:q` + strings.Repeat("x", i+1) + `="urn:q"`)
	}
	return b.String()
}

// TestVerifierWideNamespaces: the namespace bound held only where the
// interceptor called it after Parse (POST page, Redirect, publish), so a
// decrypted assertion, metadata read for its certificates and any caller
// of Verify or VerifyLogout went to goxmldsig with any number of
// declarations in scope (30 000 unused prefixes: 4 s, 1.7 GB). Parse
// bounds them now, for every path.
func TestVerifierWideNamespaces(t *testing.T) {
	over := wideDeclarations(maxNamespacesInScope + 1)
	signed := idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3")
	// Exclusive C14N leaves the unused prefixes out of the digest: each
	// of these verifies but for the bound.
	wideEnvelope := strings.Replace(signed, "<samlp:Response ", "<samlp:Response"+over+" ", 1)
	wideAssertion := strings.Replace(signed, "<saml:Assertion ", "<saml:Assertion"+over+" ", 1)
	h, _ := encKeys()
	wideDecrypted := encryptWith(t, wideAssertion, h.cert, keycloakEncryption())
	if strings.Contains(wideDecrypted, "xmlns:qx=") {
		t.Fatal("the declarations are not inside the ciphertext")
	}
	// The envelope and the plaintext within the bound apart, over it
	// together.
	half := wideDeclarations(maxNamespacesInScope/2 + 1)
	halfAssertion := strings.Replace(signed, "<saml:Assertion ", "<saml:Assertion"+half+" ", 1)
	halves := strings.Replace(encryptWith(t, halfAssertion, h.cert, keycloakEncryption()), "<samlp:Response ", "<samlp:Response"+half+" ", 1)

	for name, x := range map[string]string{"envelope": wideEnvelope, "assertion": wideAssertion} {
		if _, err := verifier().Verify([]byte(x)); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Verify, declarations on the %s: %v, want ErrTooLarge", name, err)
		}
	}
	if _, err := encVerifier().Verify([]byte(wideDecrypted)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify, declarations in the decrypted assertion: %v, want ErrTooLarge", err)
	}
	if _, err := encVerifier().Verify([]byte(halves)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify, half in the envelope and half in the decrypted assertion: %v, want ErrTooLarge", err)
	}
	wideLogout := strings.Replace(keycloakLogoutRequest(), "<samlp:LogoutRequest ", "<samlp:LogoutRequest"+over+" ", 1)
	if _, err := verifier().VerifyLogout([]byte(wideLogout), true); !errors.Is(err, ErrTooLarge) {
		t.Errorf("VerifyLogout: %v, want ErrTooLarge", err)
	}
	md := strings.Replace(idpMetadataXML(), "<md:EntityDescriptor ", "<md:EntityDescriptor"+over+" ", 1)
	if _, err := ParseIdPMetadata([]byte(md)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseIdPMetadata: %v, want ErrTooLarge", err)
	}
	// In scope: declarations on ancestors count, siblings' do not.
	nested := `<a` + wideDeclarations(40) + `><b` + strings.ReplaceAll(wideDeclarations(25), "xmlns:q", "xmlns:r") + `/></a>`
	if _, err := Parse([]byte(nested), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("40 on a parent and 25 on its child: %v, want ErrTooLarge", err)
	}
	siblings := `<a>` + strings.Repeat(`<b`+wideDeclarations(maxNamespacesInScope)+`/>`, 3) + `</a>`
	if _, err := Parse([]byte(siblings), 0); err != nil {
		t.Errorf("%d on each of three siblings: %v", maxNamespacesInScope, err)
	}
	// What IdPs send stays accepted.
	if _, err := verifier().Verify([]byte(signed)); err != nil {
		t.Errorf("Keycloak's shape: %v", err)
	}
	if _, err := encVerifier().Verify([]byte(encryptWith(t, signed, h.cert, keycloakEncryption()))); err != nil {
		t.Errorf("Keycloak's shape, encrypted: %v", err)
	}
}
