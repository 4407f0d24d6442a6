package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/caddymodule"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// writePEM writes c to a PEM file in dir.
func writePEM(t *testing.T, dir, name string, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sspNameIDHook reads the NameID SimpleSAMLphp encrypted and gives the SP
// one of its own.
const sspNameIDHook = `
exports.onBeforeSamlAssertion = async (event, api) => {
  if (!event.saml.name_id.value.includes("@")) { api.deny("NameID not seen: " + JSON.stringify(event.saml.name_id)); return; }
  api.assertion.setNameID("crm-" + event.saml.name_id.value, "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
  api.assertion.setAttribute("tier", ["gold"]);
};
`

// TestSimpleSAMLphpEncryptedNameID: SimpleSAMLphp with nameid.encryption,
// its SP entry listing idphooks' encryption certificate, sends the NameID
// as an EncryptedID (AES-128-CBC, rsa-oaep-mgf1p by xmlseclibs); idphooks
// decrypts it, the hook reads and changes it, and crewjam's SP, trusting
// only idphooks, reads the hook's NameID from the EncryptedID idphooks
// encrypted to it. SimpleSAMLphp's metadata is signed, and verified with
// idp_metadata_certificate. IdP-initiated logout sends the SP a
// LogoutRequest whose EncryptedID idphooks re-encrypts to the SP.
func TestSimpleSAMLphpEncryptedNameID(t *testing.T) {
	dir := t.TempDir()
	encKey, encCert, err := samlsp.NewKeyPair("idphooks encryption")
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(encKey)
	encCertFile := writePEM(t, dir, "enc.crt", "CERTIFICATE", encCert.Raw)
	encKeyFile := writePEM(t, dir, "enc.key", "PRIVATE KEY", keyDER)
	// Written once their certificates exist, before Caddy loads.
	spCertFile := filepath.Join(dir, "sp.crt")
	idpCertFile := filepath.Join(dir, "idp.crt")
	entityID := "urn:idphooks:e2e:sp:simplesamlphp"
	hook := e2etest.WriteHook(t, dir, "nameid.js", sspNameIDHook)
	extra := e2etest.Hooks(hook)
	extra["saml"] = map[string]any{
		"decryption_certificate_file": encCertFile,
		"decryption_key_file":         encKeyFile,
		"decrypt":                     true,
		"idp_metadata_certificates":   []string{idpCertFile},
		"sps":                         map[string]any{entityID: map[string]any{"encryption_certificate": spCertFile}},
	}
	rig := startSSPRigThen(t, false, extra, func(o *testidp.SimpleSAMLphpOptions) {
		o.EncryptNameID = true
		o.EncryptionCertificate = encCert
		o.SignMetadata = true
		o.SignLogout = true
		writePEM(t, dir, "sp.crt", "CERTIFICATE", o.SPCertificate.Raw)
	}, func(idp *testidp.SimpleSAMLphp) {
		writePEM(t, dir, "idp.crt", "CERTIFICATE", idp.Certificate.Raw)
	})

	browser := e2etest.Browser()
	u := testidp.TestUser
	res, err := rig.sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	sent := string(rig.tap.last(t))
	if !strings.Contains(sent, "<saml:EncryptedID>") || strings.Contains(sent, "<saml:NameID") {
		t.Fatalf("SimpleSAMLphp did not encrypt the NameID:\n%s", sent)
	}
	if res.NameID != "crm-"+u.Email || res.Attributes["tier"] == nil {
		t.Errorf("the SP read NameID %q, tier %q", res.NameID, res.Attributes["tier"])
	}
	got := string(res.Response)
	if strings.Contains(got, u.Email) || !strings.Contains(got, "EncryptedAssertion") {
		t.Errorf("what the SP got shows the NameID in clear:\n%s", got)
	}

	// The metadata idphooks serves is signed by idphooks, as
	// SimpleSAMLphp's was.
	md := e2etest.Get(t, rig.origin+caddymodule.DefaultSAMLMetadataPath)
	pub, err := saml.ParseIdPMetadata([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (saml.MetadataTrust{Certificates: pub.Signing}).VerifyIdPMetadata([]byte(md)); err != nil {
		t.Errorf("served metadata does not verify with idphooks' certificate: %v\n%s", err, md)
	}

	// IdP-initiated logout: the LogoutRequest's NameID comes encrypted to
	// idphooks and reaches the SP encrypted to it.
	reqs, err := rig.sp.BrowseLogout(e2etest.Ctx(t), browser, rig.origin+"/saml2/idp/initSLO.php?RelayState="+url.QueryEscape(rig.origin+"/saml2/idp/metadata.php"))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 1 || reqs[0].NameID == nil || reqs[0].NameID.Value != "crm-"+u.Email {
		t.Fatalf("the SP got logout requests %+v", reqs)
	}
}
