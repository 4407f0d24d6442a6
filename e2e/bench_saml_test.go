package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// samlBenchIdP is an upstream serving, at every path, Keycloak's POST
// page with a typical signed Response (10 attributes, RSA-2048
// signature on the assertion), or a login page without one at /login.
type samlBenchIdP struct {
	srv      *httptest.Server
	metadata string // file
	post     string
	login    string
}

func startSAMLBenchIdP(b *testing.B) *samlBenchIdP {
	b.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	const issuer, sp, acs = "http://idp.bench/realms/acme", "urn:bench:sp", "http://sp.bench/acs"
	at := func(d time.Duration) string { return time.Now().UTC().Add(d).Format("2006-01-02T15:04:05Z") }
	value := func(v string) string {
		return `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">` + v + `</saml:AttributeValue>`
	}
	var attrs strings.Builder
	for i := range 10 {
		fmt.Fprintf(&attrs, `<saml:Attribute Name="attr%d" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">%s</saml:Attribute>`, i, value(fmt.Sprint("value ", i)))
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Destination="` + acs + `" ID="ID_r1" InResponseTo="id-1" IssueInstant="` + at(0) + `" Version="2.0">` +
		`<saml:Issuer>` + issuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
		`<saml:Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="ID_a1" IssueInstant="` + at(0) + `" Version="2.0"><saml:Issuer>` + issuer + `</saml:Issuer>` +
		`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@example.com</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="id-1" NotOnOrAfter="` + at(time.Hour) + `" Recipient="` + acs + `"/></saml:SubjectConfirmation></saml:Subject>` +
		`<saml:Conditions NotBefore="` + at(-time.Minute) + `" NotOnOrAfter="` + at(time.Hour) + `"><saml:AudienceRestriction><saml:Audience>` + sp + `</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
		`<saml:AuthnStatement AuthnInstant="` + at(0) + `" SessionIndex="s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
		`<saml:AttributeStatement>` + attrs.String() + `</saml:AttributeStatement></saml:Assertion></samlp:Response>`); err != nil {
		b.Fatal(err)
	}
	assertion := doc.FindElement("//Assertion")
	ctx, err := dsig.NewSigningContext(key, [][]byte{der})
	if err != nil {
		b.Fatal(err)
	}
	ctx.Prefix = "dsig"
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	nsctx, err := etreeutils.NSBuildParentContext(assertion)
	if err != nil {
		b.Fatal(err)
	}
	det, err := etreeutils.NSDetatch(nsctx, assertion)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := ctx.ConstructSignature(det, true)
	if err != nil {
		b.Fatal(err)
	}
	assertion.InsertChildAt(1, sig)
	xml, _ := doc.WriteToString()
	theme := strings.Repeat(`<script type="module">/* keycloak.v2 theme */ const a = document.querySelectorAll("input"); for (const i of a) { i.dataset.x = "y"; }</script>`+"\n", 90)
	// Keycloak 26.7's own POST page, as the e2e Keycloak sent it.
	page, err := os.ReadFile("../interceptors/saml/binding/testdata/keycloak-26.7-post.html")
	if err != nil {
		b.Fatal(err)
	}
	field := regexp.MustCompile(`name="SAMLResponse" value="[^"]*"`)
	p := &samlBenchIdP{
		post:  field.ReplaceAllLiteralString(string(page), `name="SAMLResponse" value="`+base64.StdEncoding.EncodeToString([]byte(xml))+`"`),
		login: `<!DOCTYPE html><html><head>` + theme + `</head><body><form id="kc-form-login" method="post" action="/realms/acme/login-actions/authenticate?session_code=x"><input name="username"><input type="password" name="password"></form></body></html>`,
	}
	p.metadata = filepath.Join(b.TempDir(), "idp.xml")
	md := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + issuer + `"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + base64.StdEncoding.EncodeToString(der) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + issuer + `/protocol/saml"/></md:IDPSSODescriptor></md:EntityDescriptor>`
	if err := os.WriteFile(p.metadata, []byte(md), 0o600); err != nil {
		b.Fatal(err)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/login" {
			io.WriteString(w, p.login)
			return
		}
		io.WriteString(w, p.post)
	}))
	b.Cleanup(p.srv.Close)
	return p
}

const samlBenchHook = `exports.onBeforeSamlAssertion = (event, api) => {
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.removeAttribute("attr0");
};`

// BenchmarkCaddySAML: the IdP's POST page (with a hook editing the
// assertion) and a login page without a SAML message, through Caddy with
// idp_hooks (SAML only) + reverse_proxy against reverse_proxy alone, over
// real loopback connections.
func BenchmarkCaddySAML(b *testing.B) {
	idp := startSAMLBenchIdP(b)
	for _, page := range []struct{ name, path string }{{"post_page", "/realms/acme/login-actions/authenticate"}, {"login_page", "/login"}} {
		for _, mode := range []struct {
			name  string
			plain bool
		}{{"reverse_proxy", true}, {"idp_hooks", false}} {
			b.Run(page.name+"/"+mode.name, func(b *testing.B) {
				dir := b.TempDir()
				origin := e2etest.LoadCaddy(b, e2etest.Config{
					Addr: e2etest.FreeAddr(b), Dir: dir, Upstream: idp.srv.URL, Plain: mode.plain,
					Handler: map[string]any{"upstream": nil, "saml": map[string]any{"idp_metadata": idp.metadata},
						"hooks": []any{map[string]any{"path": e2etest.WriteHook(b, dir, "attrs.js", samlBenchHook)}}},
				})
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				get := func() {
					resp, err := client.Post(origin+page.path, "application/x-www-form-urlencoded", nil)
					if err != nil {
						b.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(body), "</form>") {
						b.Fatalf("%d %.300s", resp.StatusCode, body)
					}
				}
				get()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						get()
					}
				})
			})
		}
	}
}
