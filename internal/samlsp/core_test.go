package samlsp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
	"github.com/idphooks/idphooks/sandbox"
)

// The SAML core on what a real Keycloak sends, not on samples shaped
// after it: its descriptor parses, each signing placement verifies with
// the descriptor's certificate, the model holds what crewjam read, and an
// edited, re-signed response verifies with the new certificate only.
func TestCoreOnRealKeycloakResponses(t *testing.T) {
	resp, err := http.Get(testidp.KeycloakSAMLDescriptorURL(kc))
	if err != nil {
		t.Fatal(err)
	}
	desc, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	md, err := saml.ParseIdPMetadata(desc)
	if err != nil {
		t.Fatalf("Keycloak's descriptor: %v\n%s", err, desc)
	}
	if len(md.Signing) == 0 || len(md.Paths()) != 1 {
		t.Fatalf("metadata %+v, paths %v", md, md.Paths())
	}
	key, cert := newCert(t)
	for _, tc := range []struct {
		name    string
		signing string
		want    string
	}{
		{"core-assertion", testidp.SignAssertion, "assertion"},
		{"core-response", testidp.SignResponse, "response"},
		{"core-both", testidp.SignBoth, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := newSP(t, tc.name, testidp.KeycloakSAMLClient{Signing: tc.signing}, samlsp.Options{})
			res := login(t, sp, newBrowser(t))
			v := &saml.Verifier{Certificates: md.Signing}
			r, err := v.Verify(res.Response)
			if err != nil {
				t.Fatalf("Keycloak's own response: %v\n%s", err, res.Response)
			}
			m := r.Model()
			if m.Signed != tc.want || m.NameID.Value != res.NameID || m.SessionIndex != res.SessionIndex || m.Issuer != md.EntityID {
				t.Fatalf("model %+v", m)
			}
			if got := m.Attributes[testidp.SAMLRoleAttribute].Values; !slices.Equal(sorted(got), sorted(res.Attributes[testidp.SAMLRoleAttribute])) {
				t.Fatalf("roles %v, crewjam read %v", got, res.Attributes[testidp.SAMLRoleAttribute])
			}
			ops := []sandbox.Op{{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}}}
			if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
				t.Fatal(err)
			}
			out, err := (&saml.Signer{Key: key, Certificate: cert}).Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			again, err := (&saml.Verifier{Certificates: []*x509.Certificate{cert}}).Verify(out)
			if err != nil {
				t.Fatalf("re-signed: %v", err)
			}
			if got := again.Model(); got.Attributes["tier"].Values[0] != "gold" || got.Signed != tc.want {
				t.Fatalf("re-signed model %+v", got)
			}
			if _, err := v.Verify(out); err == nil {
				t.Fatal("the re-signed response verifies with Keycloak's certificate")
			}
		})
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func newCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "idphooks test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return k, c
}
