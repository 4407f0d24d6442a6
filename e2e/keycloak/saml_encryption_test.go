package keycloak

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	crewsaml "github.com/crewjam/saml"

	"github.com/idphooks/idphooks/caddymodule"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// samlLoggedProxy is samlProxy with Caddy's log at WARN in a file of the
// test's, read with logLines.
func samlLoggedProxy(t *testing.T, samlBlock map[string]any, extra map[string]any) (*proxy, string) {
	t.Helper()
	_ = caddy.Stop()
	addr := e2etest.FreeAddr(t)
	dir := t.TempDir()
	px := &proxy{Origin: "http://" + addr, Dir: dir}
	if err := testidp.SetKeycloakFrontendURL(e2etest.Ctx(t), kc, px.Origin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := testidp.SetKeycloakFrontendURL(context.Background(), kc, ""); err != nil {
			t.Errorf("resetting the frontend URL: %v", err)
		}
	})
	samlBlock["idp_metadata"] = testidp.KeycloakSAMLDescriptorURL(kc)
	handler := map[string]any{"saml": samlBlock}
	for k, v := range extra {
		handler[k] = v
	}
	logFile := filepath.Join(dir, "caddy.log")
	e2etest.LoadCaddy(t, e2etest.Config{
		Addr: addr, Dir: dir, Upstream: kc.Issuer(), Handler: handler,
		SelfIssuer: px.Issuer(), LogLevel: "WARN", LogFile: logFile,
	})
	return px, logFile
}

// logLines are the entries of Caddy's JSON log whose message holds msg.
func logLines(t *testing.T, file, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && strings.Contains(e["msg"].(string), msg) {
			out = append(out, e)
		}
	}
	return out
}

// spKeyPair is an SP's own key pair, its certificate also in a PEM file.
func spKeyPair(t *testing.T, name string) (*rsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	key, cert, err := samlsp.NewKeyPair("idphooks e2e SP " + name)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name+".crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, cert, p
}

// samlKeyedSP is samlSP with the SP's key pair and the IdP metadata it
// trusts given.
func samlKeyedSP(t *testing.T, entityID, metadataURL string, key *rsa.PrivateKey, cert *x509.Certificate, c testidp.KeycloakSAMLClient) *samlsp.SP {
	t.Helper()
	sp, err := samlsp.New(e2etest.Ctx(t), samlsp.Options{EntityID: entityID, IDPMetadataURL: metadataURL, Key: key, Certificate: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	c.EntityID, c.ACSURL, c.SLOURL = sp.EntityID(), sp.ACSURL(), sp.SLOURL()
	if err := testidp.AddKeycloakSAMLClient(e2etest.Ctx(t), kc, c); err != nil {
		t.Fatal(err)
	}
	return sp
}

// servedEncryptionCertificate is idphooks' encryption certificate as the
// metadata served through Caddy names it (KeyDescriptor use="encryption").
func servedEncryptionCertificate(t *testing.T, px *proxy) *x509.Certificate {
	t.Helper()
	resp, err := http.Get(px.Origin + caddymodule.DefaultSAMLMetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	md, err := saml.ParseIdPMetadata(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if !bytes.Contains(raw, []byte(`use="encryption"`)) || len(md.Encryption) != 1 {
		t.Fatalf("%d encryption certificates in the served metadata, want idphooks' one with use=\"encryption\":\n%s", len(md.Encryption), raw)
	}
	enc := md.Encryption[0]
	if slices.ContainsFunc(md.Signing, enc.Equal) || enc.KeyUsage != x509.KeyUsageKeyEncipherment {
		t.Fatalf("the encryption certificate is a signing one (or not for key encipherment): %s", enc.Subject)
	}
	return enc
}

// spMetadataFile writes the metadata crewjam's SP publishes for itself
// (its encryption key, the EncryptionMethods it reads) to a file, for an
// sp block's metadata.
func spMetadataFile(t *testing.T, entityID string, key *rsa.PrivateKey, cert *x509.Certificate) string {
	t.Helper()
	acs, _ := url.Parse("http://127.0.0.1/saml/acs")
	b, err := xml.Marshal((&crewsaml.ServiceProvider{EntityID: entityID, Key: key, Certificate: cert, AcsURL: *acs}).Metadata())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sp-metadata.xml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSAMLEncryptedAssertions: Keycloak encrypts to idphooks' encryption
// certificate (read from the metadata served through Caddy); idphooks
// decrypts, runs the hook, re-signs where Keycloak signed and encrypts to
// the SP's own certificate (encryption_certificate, or for the SP signed
// both ways, its metadata, whose EncryptionMethods choose aes256-gcm and
// XML Encryption 1.1's rsa-oaep); crewjam's SP, trusting only idphooks,
// decrypts with its key and gets the hook's edits. bob's denial is refused
// by the SP as for clear assertions.
func TestSAMLEncryptedAssertions(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	signings := []string{testidp.SignAssertion, testidp.SignResponse, testidp.SignBoth}
	type spKeys struct {
		key  *rsa.PrivateKey
		cert *x509.Certificate
	}
	sps := map[string]any{}
	keys := map[string]spKeys{}
	for _, s := range signings {
		id := "urn:idphooks:e2e:sp:encrypted-" + s
		key, cert, file := spKeyPair(t, s)
		keys[s] = spKeys{key, cert}
		sps[id] = map[string]any{"encryption_certificate": file}
		if s == testidp.SignBoth {
			sps[id] = map[string]any{"metadata": spMetadataFile(t, id, key, cert)}
		}
	}
	px, _ := samlLoggedProxy(t, map[string]any{"decrypt": true, "sps": sps}, e2etest.Hooks(hook))
	enc := servedEncryptionCertificate(t, px)
	u := testidp.TestUser
	for _, signing := range signings {
		t.Run(signing, func(t *testing.T) {
			k := keys[signing]
			sp := samlKeyedSP(t, "urn:idphooks:e2e:sp:encrypted-"+signing, px.Origin+caddymodule.DefaultSAMLMetadataPath,
				k.key, k.cert, testidp.KeycloakSAMLClient{Signing: signing, EncryptTo: enc, IdPInitiatedName: "encrypted-" + signing})
			res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			if res.NameID != "crm-"+u.Email || !slices.Equal(res.Attributes["tier"], []string{"gold"}) {
				t.Errorf("NameID %q, tier %q: the hook's edits did not arrive", res.NameID, res.Attributes["tier"])
			}
			if _, ok := res.Attributes[testidp.SAMLRoleAttribute]; ok {
				t.Error("Role still there")
			}
			doc := string(res.Response)
			if !strings.Contains(doc, "EncryptedAssertion") || strings.Contains(doc, ":Assertion ") || strings.Contains(doc, u.Email) {
				t.Errorf("what the SP got is not encrypted:\n%s", doc)
			}
			want := []string{saml.AES256GCM, saml.RSAOAEPMGF1P}
			if signing == testidp.SignBoth {
				want[1] = saml.RSAOAEP
			}
			for _, alg := range want {
				if !strings.Contains(doc, `Algorithm="`+alg+`"`) {
					t.Errorf("%s not used:\n%s", alg, doc)
				}
			}
			if got := res.Attributes["sp_seen"]; !slices.Equal(got, []string{sp.EntityID(), signing}) {
				t.Errorf("sp_seen = %q", got)
			}
			_, err = sp.Login(e2etest.Ctx(t), samlBrowser(t), testidp.SecondUser.Username, testidp.SecondUser.Password)
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("bob's login: %v, want the SP to refuse a denied response", err)
			}
		})
	}
}

// TestSAMLEncryptedWithoutDecrypt: without decrypt, a response whose
// assertion Keycloak encrypted (to the SP's own certificate here) passes
// unchanged: crewjam's SP trusting only idphooks refuses the IdP's
// signature, one trusting Keycloak's own descriptor accepts it as Keycloak
// made it (no hook edit), and the log says why, once.
func TestSAMLEncryptedWithoutDecrypt(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px, logFile := samlLoggedProxy(t, map[string]any{}, e2etest.Hooks(hook))
	u := testidp.TestUser

	key, cert, _ := spKeyPair(t, "plain")
	trustsHooks := samlKeyedSP(t, "urn:idphooks:e2e:sp:encrypted-no-decrypt", px.Origin+caddymodule.DefaultSAMLMetadataPath,
		key, cert, testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion, EncryptTo: cert})
	_, err := trustsHooks.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
	t.Logf("SP trusting idphooks: %v", err)
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(strings.ToLower(err.Error()), "certificate") {
		t.Fatalf("SP trusting idphooks: %v, want it to refuse the IdP's signature", err)
	}

	trustsIdP := samlKeyedSP(t, "urn:idphooks:e2e:sp:encrypted-idp-trust", testidp.KeycloakSAMLDescriptorURL(kc),
		key, cert, testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion, EncryptTo: cert})
	res, err := trustsIdP.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
	if err != nil {
		t.Fatalf("SP trusting Keycloak: %v", err)
	}
	if res.NameID != u.Email || res.Attributes["tier"] != nil || len(res.Attributes[testidp.SAMLRoleAttribute]) == 0 {
		t.Errorf("NameID %q, attributes %v: the response did not pass unchanged", res.NameID, res.Attributes)
	}
	if !strings.Contains(string(res.Response), "xmlenc11#rsa-oaep") {
		t.Errorf("not Keycloak's encryption:\n%s", res.Response)
	}

	deadline := time.Now().Add(5 * time.Second)
	var lines []map[string]any
	for time.Now().Before(deadline) {
		if lines = logLines(t, logFile, "decryption is not configured"); len(lines) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Both SPs share the proxy but not their destination (ACS): one line
	// each.
	if len(lines) != 2 || lines[0]["level"] != "warn" {
		t.Fatalf("log lines %v, want one warning per SP", lines)
	}
	acs := []string{lines[0]["destination"].(string), lines[1]["destination"].(string)}
	if !slices.Contains(acs, trustsHooks.ACSURL()) || !slices.Contains(acs, trustsIdP.ACSURL()) {
		t.Errorf("destinations %q", acs)
	}
}
