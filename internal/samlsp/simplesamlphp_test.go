package samlsp_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// TestSimpleSAMLphpLogin: crewjam's SP logs in against Debian's
// SimpleSAMLphp (skipped when it is not installed).
func TestSimpleSAMLphpLogin(t *testing.T) {
	key, cert, err := samlsp.NewKeyPair("test SP")
	if err != nil {
		t.Fatal(err)
	}
	// The SP's URLs must be known before the IdP starts, and the IdP's
	// metadata before the SP does: hold the SP's port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	entityID := "urn:idphooks:test:sp:simplesamlphp"
	start := time.Now()
	idp, err := testidp.StartSimpleSAMLphp(testidp.SimpleSAMLphpOptions{
		SPEntityID:    entityID,
		SPACSURL:      "http://" + addr + samlsp.ACSPath,
		SPSLOURL:      "http://" + addr + samlsp.SLOPath,
		SPCertificate: cert,
		SignResponse:  true,
	})
	if errors.Is(err, testidp.ErrNoSimpleSAMLphp) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	t.Logf("SimpleSAMLphp started in %s", time.Since(start).Round(time.Millisecond))
	sp, err := samlsp.New(ctx(t), samlsp.Options{EntityID: entityID, IDPMetadataURL: idp.MetadataURL, Key: key, Certificate: cert, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	browser := newBrowser(t)
	res := login(t, sp, browser)
	u := testidp.TestUser
	if res.NameID == "" || !res.Prompted {
		t.Errorf("NameID %q, prompted %v", res.NameID, res.Prompted)
	}
	for name, want := range testidp.SimpleSAMLphpAttributes[u.Username] {
		if got := res.Attributes[name]; !slices.Equal(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(string(res.Response), "saml:Assertion") {
		t.Logf("response:\n%s", res.Response)
	}
	if again := login(t, sp, browser); again.Prompted {
		t.Error("the IdP session did not carry a second login")
	}

	// The SAML core on SimpleSAMLphp's own shape: its metadata parses and
	// its signed response verifies with it, the model matching crewjam.
	mdResp, err := http.Get(idp.MetadataURL)
	if err != nil {
		t.Fatal(err)
	}
	desc, _ := io.ReadAll(mdResp.Body)
	mdResp.Body.Close()
	md, err := saml.ParseIdPMetadata(desc)
	if err != nil {
		t.Fatalf("SimpleSAMLphp's metadata: %v\n%s", err, desc)
	}
	r, err := (&saml.Verifier{Certificates: md.Signing}).Verify(res.Response)
	if err != nil {
		t.Fatalf("SimpleSAMLphp's response: %v\n%s", err, res.Response)
	}
	if m := r.Model(); m.NameID.Value != res.NameID || m.Issuer != md.EntityID {
		t.Fatalf("model %+v", m)
	}
}
