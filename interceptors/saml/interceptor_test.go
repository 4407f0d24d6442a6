package saml

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/saml/binding"
	"github.com/idphooks/idphooks/sandbox"
	"github.com/idphooks/idphooks/store"
)

// testKeys are idphooks' key pair from helpers_test.go as Keys.
type testKeys struct{}

func (testKeys) SAMLSigner() (crypto.Signer, *x509.Certificate, error) {
	_, h := keys()
	return h.key, h.cert, nil
}
func (testKeys) SAMLCertificates() []*x509.Certificate {
	_, h := keys()
	return []*x509.Certificate{h.cert}
}

// idpMetadataXML is a Keycloak-shaped descriptor for the test IdP key.
func idpMetadataXML() string {
	idp, _ := keys()
	return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="` + testIssuer + `">` +
		`<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:KeyName>k1</ds:KeyName><ds:X509Data><ds:X509Certificate>` +
		base64.StdEncoding.EncodeToString(idp.cert.Raw) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + testIssuer + `/protocol/saml"/>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + testIssuer + `/protocol/saml"/>` +
		`</md:IDPSSODescriptor></md:EntityDescriptor>`
}

// postPage is a Keycloak-shaped POST binding page for message.
func postPage(message, relay string) string {
	return `<!DOCTYPE html><html><head><title>Redirecting</title></head><body onload="document.forms[0].submit()">` +
		`<noscript><p>JavaScript is disabled.</p><input type="submit" value="Continue"/></noscript>` +
		`<form name="saml-post-binding" method="post" action="` + testACS + `">` +
		`<input type="hidden" name="SAMLResponse" value="` + base64.StdEncoding.EncodeToString([]byte(message)) + `"/>` +
		`<input type="hidden" name="RelayState" value="` + html.EscapeString(relay) + `"/>` +
		`<noscript><input type="submit" value="Continue"/></noscript></form></body></html>`
}

type harness struct {
	ic   *Interceptor
	page func(w http.ResponseWriter, r *http.Request)
}

func newHarness(t *testing.T, hookSrc string, mod func(*Config)) *harness {
	return newHarnessAsync(t, hookSrc, mod, nil)
}

// hookApps limits the harness' hook to these SPs while a test sets it.
var hookApps []string

func newHarnessAsync(t *testing.T, hookSrc string, mod func(*Config), onAsync func(string, *events.Event, *sandbox.Result, error)) *harness {
	t.Helper()
	dir := t.TempDir()
	mdPath := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(mdPath, []byte(idpMetadataXML()), 0o600); err != nil {
		t.Fatal(err)
	}
	idp, err := NewIdP(mdPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	var hooks []*events.Hook
	if hookSrc != "" {
		engine, err := sandbox.New(sandbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "hook.js")
		if err := os.WriteFile(p, []byte(hookSrc), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := events.Build(engine, events.HookConfig{Path: p, Applications: hookApps})
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, h)
	}
	cfg := Config{IdP: idp, Keys: testKeys{}, Dispatcher: events.NewDispatcher(hooks, events.Options{OnAsync: onAsync})}
	if mod != nil {
		mod(&cfg)
	}
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{ic: ic}
}

func (h *harness) do(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, nil)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		h.page(w, r)
		return nil
	})
	if err := h.ic.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

func serve(contentType, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}
}

// sentMessage returns the SAMLResponse the browser would post on, and
// the form read from the page.
func sentMessage(t *testing.T, page []byte) ([]byte, *binding.PostForm) {
	t.Helper()
	form, err := binding.ParsePost(page, 0)
	if err != nil {
		t.Fatalf("ParsePost: %v\n%s", err, page)
	}
	msg, err := form.Decode()
	if err != nil {
		t.Fatal(err)
	}
	return msg, form
}

func hooksVerifier() *Verifier {
	_, h := keys()
	return &Verifier{Certificates: []*x509.Certificate{h.cert}}
}

func TestInterceptorPassesOtherPages(t *testing.T) {
	h := newHarness(t, "", nil)
	login := `<html><body><form id="kc-form-login" method="post" action="/realms/acme/login-actions/authenticate"><input name="username"></form></body></html>`
	for _, tc := range []struct{ ct, body string }{
		{"text/html; charset=utf-8", login},
		{"application/json", `{"SAMLResponse":"not a page"}`},
		{"text/html", `<p>SAMLResponse is a word here, in no form</p>`},
	} {
		h.page = serve(tc.ct, tc.body)
		w := h.do(t, "GET", "/realms/acme/protocol/openid-connect/auth")
		if w.Code != 200 || w.Body.String() != tc.body {
			t.Errorf("%s: %d %q, want the page unchanged", tc.ct, w.Code, w.Body.String())
		}
	}
}

func TestInterceptorResignsPostPage(t *testing.T) {
	h := newHarness(t, "", nil)
	relay := `/app?x=1&y="é"`
	signed := idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3")
	body := postPage(signed, relay)
	h.page = serve("text/html;charset=utf-8", body)
	w := h.do(t, "POST", "/realms/acme/login-actions/authenticate")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	msg, form := sentMessage(t, w.Body.Bytes())
	if form.RelayState == nil || form.RelayState.Value != relay {
		t.Errorf("RelayState = %+v, want %q", form.RelayState, relay)
	}
	// Outside the message, the page is the IdP's byte for byte.
	orig, _ := binding.ParsePost([]byte(body), 0)
	if got, want := w.Body.String()[:form.Message.Start], body[:orig.Message.Start]; got != want {
		t.Errorf("page before the message changed")
	}
	if got, want := w.Body.String()[form.Message.End:], body[orig.Message.End:]; got != want {
		t.Errorf("page after the message changed")
	}
	if _, err := verifier().Verify(msg); !errors.Is(err, ErrSignature) {
		t.Errorf("the IdP's certificate verifies what the SP gets: %v", err)
	}
	r, err := hooksVerifier().Verify(msg)
	if err != nil {
		t.Fatalf("idphooks' certificate does not verify it: %v", err)
	}
	if r.Signed != SignedAssertion {
		t.Errorf("signed %s, want where the IdP signed (assertion)", r.Signed)
	}
	if m := r.Model(); m.NameID.Value != "alice" || len(m.Attributes["Role"].Values) != 2 {
		t.Errorf("model changed: %+v", m)
	}
	// Without a hook, the SP gets the IdP's document but for the
	// signature: namespaces where the IdP declared them, its prefixes,
	// its attribute order.
	if got, want := anySig.ReplaceAllString(string(msg), ""), anySig.ReplaceAllString(signed, ""); got != want {
		t.Errorf("the document changed beyond its signature:\n got %s\nwant %s", got, want)
	}
}

var anySig = regexp.MustCompile(`(?s)<(ds|dsig):Signature[ >].*?</(ds|dsig):Signature>`)

// TestInterceptorKeepsDocument: SimpleSAMLphp's shape (XML declaration,
// xs and xsi on the Assertion, signed both) arrives unchanged but for its
// signatures, and a comment, which no signature covers, is dropped.
func TestInterceptorKeepsDocument(t *testing.T) {
	h := newHarness(t, "", nil)
	ssp := simpleSAMLphpResponse()
	aID := regexp.MustCompile(`<saml:Assertion [^>]*ID="([^"]+)"`).FindStringSubmatch(ssp)[1]
	rID := regexp.MustCompile(`<samlp:Response [^>]*ID="([^"]+)"`).FindStringSubmatch(ssp)[1]
	withComment := strings.Replace(ssp, "<saml:Conditions ", "<!-- unsigned note --><saml:Conditions ", 1)
	signed := idpSign(t, withComment, "ds", aID, rID)
	h.page = serve("text/html", postPage(signed, ""))
	msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	if _, err := hooksVerifier().Verify(msg); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(anySig.ReplaceAllString(signed, ""), "<!-- unsigned note -->", "", 1)
	if got := anySig.ReplaceAllString(string(msg), ""); got != want {
		t.Errorf("the document changed beyond its signatures:\n got %s\nwant %s", got, want)
	}
}

func TestInterceptorHookEditsAndDenies(t *testing.T) {
	h := newHarness(t, `
exports.onBeforeSamlAssertion = async (event, api) => {
  if (event.saml.name_id.value === "bob") { api.deny("bob is blocked"); return; }
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.removeAttribute("Role");
};`, func(c *Config) {
		c.SPs = map[string]SP{testSP: {Sign: SignedResponse | SignedAssertion, AttributeNameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}}
	})
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_r9f8e7"), ""))
	msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	r, err := hooksVerifier().Verify(msg)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Model()
	if r.Signed != SignedResponse|SignedAssertion {
		t.Errorf("signed %s, want both as the SP's sign option says", r.Signed)
	}
	if a := m.Attributes["tier"]; len(a.Values) != 1 || a.Values[0] != "gold" || a.NameFormat != "urn:oasis:names:tc:SAML:2.0:attrname-format:uri" {
		t.Errorf("tier = %+v", a)
	}
	if _, ok := m.Attributes["Role"]; ok {
		t.Error("Role not removed")
	}

	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("bob", 0)), "dsig", "ID_r9f8e7"), ""))
	msg, _ = sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	r, err = hooksVerifier().Verify(msg)
	if err != nil {
		t.Fatal(err)
	}
	m = r.Model()
	if m.Status.Code != StatusResponder || m.Status.SubCode != StatusRequestDenied || m.Status.Message != "bob is blocked" {
		t.Errorf("denial status %+v", m.Status)
	}
	if bytes.Contains(msg, []byte("Assertion")) || m.InResponseTo != testReqID {
		t.Errorf("denial: %s", msg)
	}
}

// TestInterceptorRefuses: what idphooks cannot verify never reaches the
// SP; the browser gets a page, the log the reason.
func TestInterceptorRefuses(t *testing.T) {
	h := newHarness(t, "", nil)
	_, hk := keys()
	good := keycloakResponse(keycloakAssertion("alice", 0))
	for name, page := range map[string]string{
		"unsigned":          postPage(good, ""),
		"signed by another": postPage(idpSignWith(t, good, hk, "ID_a1b2c3"), ""),
		"not base64":        strings.Replace(postPage(good, ""), `name="SAMLResponse" value="`, `name="SAMLResponse" value="%%%`, 1),
		"doctype":           postPage(`<!DOCTYPE x [<!ENTITY a "b">]>`+good, ""),
		"two messages":      strings.Replace(postPage(good, ""), `</form>`, `<input type="hidden" name="SAMLResponse" value="eA=="></form>`, 1),
		"authn request":     postPage(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="a"/>`, ""),
	} {
		h.page = serve("text/html", page)
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusBadGateway || strings.Contains(w.Body.String(), "SAMLResponse") {
			t.Errorf("%s: %d, want a 502 page without the message", name, w.Code)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
	}
}

func idpSignWith(t *testing.T, xml string, kp keyPair, id string) string {
	t.Helper()
	doc, err := Parse([]byte(xml), 0)
	if err != nil {
		t.Fatal(err)
	}
	el := doc.FindElement("//[@ID='" + id + "']")
	el.InsertChildAt(1, signFor(t, el, kp, "dsig"))
	out, _ := doc.WriteToString()
	return out
}

func TestInterceptorGzipPage(t *testing.T) {
	h := newHarness(t, "", nil)
	page := postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), "r")
	h.page = func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(page))
		zw.Close()
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b.Bytes())
	}
	w := h.do(t, "POST", "/x")
	if w.Header().Get("Content-Encoding") != "" {
		t.Errorf("Content-Encoding %q on a rewritten page", w.Header().Get("Content-Encoding"))
	}
	msg, _ := sentMessage(t, w.Body.Bytes())
	if _, err := hooksVerifier().Verify(msg); err != nil {
		t.Fatal(err)
	}
}

// TestInterceptorReadsEveryDocumentType: a POST page labelled with a type
// a browser still renders as a document (an XML type, a type it sniffs, a
// repeated Content-Type whose last value is HTML) is read and re-signed,
// never passed on under the IdP's signature.
func TestInterceptorReadsEveryDocumentType(t *testing.T) {
	h := newHarness(t, "", nil)
	page := postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), "rs")
	for _, types := range [][]string{
		{"text/xml"}, {"application/xml; charset=utf-8"}, {"image/svg+xml"}, {"application/rss+xml"},
		{"unknown/unknown"}, {"application/unknown"}, {"*/*"}, {"html"}, {""},
		{"text/plain", "text/html"}, {"text/plain, text/html"},
	} {
		h.page = func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = types
			_, _ = w.Write([]byte(page))
		}
		w := h.do(t, "POST", "/realms/acme/login-actions/authenticate")
		msg, _ := sentMessage(t, w.Body.Bytes())
		if _, err := hooksVerifier().Verify(msg); err != nil {
			t.Errorf("%q: %d, not re-signed by idphooks: %v", types, w.Code, err)
		}
	}
	for _, ct := range []string{"text/plain", "application/json", "application/octet-stream", "image/png"} {
		h.page = serve(ct, page)
		if w := h.do(t, "POST", "/realms/acme/login-actions/authenticate"); w.Code != 200 || w.Body.String() != page {
			t.Errorf("%s: %d, want passed as it came (browsers render none as a document)", ct, w.Code)
		}
	}
}

func TestInterceptorPaths(t *testing.T) {
	h := newHarness(t, "", func(c *Config) { c.Paths = []string{"/realms/acme/"} })
	unsigned := postPage(keycloakResponse(keycloakAssertion("alice", 0)), "")
	h.page = serve("text/html", unsigned)
	if w := h.do(t, "POST", "/other/page"); w.Code != 200 || w.Body.String() != unsigned {
		t.Errorf("outside paths: %d", w.Code)
	}
	if w := h.do(t, "POST", "/REALMS/acme/login-actions/authenticate"); w.Code != http.StatusBadGateway {
		t.Errorf("inside paths (another case): %d, want 502", w.Code)
	}
}

// TestInterceptorServesMetadata: the metadata paths answer with idphooks'
// certificate in place of the IdP's, and never let the IdP's through.
func TestInterceptorServesMetadata(t *testing.T) {
	h := newHarness(t, "", func(c *Config) { c.MetadataPaths = []string{"/.well-known/idphooks/saml/metadata"} })
	h.page = func(w http.ResponseWriter, r *http.Request) { t.Errorf("metadata request reached the IdP: %s", r.URL) }
	for _, p := range []string{"/.well-known/idphooks/saml/metadata", "/.WELL-KNOWN/idphooks/saml/metadata/"} {
		w := h.do(t, "GET", p)
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/samlmetadata+xml" {
			t.Fatalf("%s: %d %s %s", p, w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		md, err := ParseIdPMetadata(w.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		idp, hk := keys()
		if len(md.Signing) != 1 || !md.Signing[0].Equal(hk.cert) {
			t.Errorf("signing certificates %d, want idphooks' alone", len(md.Signing))
		}
		if bytes.Contains(w.Body.Bytes(), []byte(base64.StdEncoding.EncodeToString(idp.cert.Raw))) {
			t.Error("the IdP's certificate is published")
		}
	}
	if w := h.do(t, "HEAD", "/.well-known/idphooks/saml/metadata"); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	// An IdP serving its document to any method would answer these.
	for _, m := range []string{"POST", "PUT", "OPTIONS", "PROPFIND"} {
		if w := h.do(t, m, "/.well-known/idphooks/saml/metadata"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

// postPageFor is postPage with the message in field name.
func postPageFor(name, message, relay string) string {
	return strings.Replace(postPage(message, relay), `name="SAMLResponse"`, `name="`+name+`"`, 1)
}

func TestInterceptorLogoutPost(t *testing.T) {
	h := newHarness(t, "", nil)
	for _, tc := range []struct{ field, msg string }{
		{"SAMLResponse", kcSignedResponse(t)},
		{"SAMLRequest", sspSignedRequest(t)},
	} {
		h.page = serve("text/html", postPageFor(tc.field, tc.msg, "rs"))
		w := h.do(t, "POST", "/realms/acme/protocol/saml")
		form, err := binding.ParsePost(w.Body.Bytes(), 0)
		if err != nil {
			t.Fatalf("%s: %d %v", tc.field, w.Code, err)
		}
		msg, _ := form.Decode()
		if _, err := hooksVerifier().VerifyLogout(msg, false); err != nil {
			t.Errorf("%s: idphooks' certificate does not verify it: %v", tc.field, err)
		}
		if _, err := verifier().VerifyLogout(msg, false); err == nil {
			t.Errorf("%s: the IdP's certificate still verifies it", tc.field)
		}
		if form.RelayState.Value != "rs" {
			t.Errorf("RelayState %q", form.RelayState.Value)
		}
	}
	// Unsigned: passed as it came.
	page := postPageFor("SAMLResponse", keycloakLogoutResponse(), "")
	h.page = serve("text/html", page)
	if w := h.do(t, "POST", "/x"); w.Body.String() != page {
		t.Errorf("unsigned LogoutResponse changed: %d", w.Code)
	}
	// A LogoutRequest in the SAMLResponse field is not read.
	h.page = serve("text/html", postPageFor("SAMLResponse", sspSignedRequest(t), ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("LogoutRequest as SAMLResponse: %d, want 502", w.Code)
	}
}

func TestInterceptorLogoutRedirect(t *testing.T) {
	h := newHarness(t, "", nil)
	idp, hk := keys()
	q, err := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), "relay%2Fx%3D1", RSASHA256, idp.key)
	if err != nil {
		t.Fatal(err)
	}
	redirect := func(loc string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusFound)
		}
	}
	h.page = redirect(testSLO + "?tenant=a%20b&" + q)
	w := h.do(t, "GET", "/realms/acme/protocol/saml?SAMLRequest=x")
	if w.Code != http.StatusFound {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	loc, _ := url.Parse(w.Header().Get("Location"))
	if !strings.HasPrefix(loc.RawQuery, "tenant=a%20b&SAMLRequest=") || !strings.Contains(loc.RawQuery, "&RelayState=relay%2Fx%3D1&") {
		t.Errorf("query %s: the SP's parameter or RelayState changed", loc.RawQuery)
	}
	rd, err := binding.ParseRedirect(loc.RawQuery, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Verify([]*x509.Certificate{hk.cert}, nil); err != nil {
		t.Errorf("idphooks' certificate does not verify the query: %v", err)
	}
	if err := rd.Verify([]*x509.Certificate{idp.cert}, nil); err == nil {
		t.Error("the IdP's certificate still verifies the query")
	}
	// A query signed by anyone else, or tampered with, is refused.
	other, _ := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), "", RSASHA256, hk.key)
	h.page = redirect(testSLO + "?" + other)
	if w := h.do(t, "GET", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("foreign signature: %d, want 502", w.Code)
	}
	// An unsigned one passes as it came.
	plain, _ := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), "", RSASHA256, nil)
	h.page = redirect(testSLO + "?" + plain)
	if w := h.do(t, "GET", "/x"); w.Header().Get("Location") != testSLO+"?"+plain {
		t.Errorf("unsigned redirect changed: %s", w.Header().Get("Location"))
	}
	// Redirects without a message stream as they are.
	h.page = redirect("/realms/acme/login-actions/authenticate?x=1")
	if w := h.do(t, "GET", "/x"); w.Header().Get("Location") != "/realms/acme/login-actions/authenticate?x=1" {
		t.Errorf("plain redirect changed")
	}
}

func TestInterceptorRefusesExpired(t *testing.T) {
	h := newHarness(t, "", func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	})
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("expired response: %d, want 502", w.Code)
	}
}

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"", false}, {"saml", false}, {"samlresponse", true}, {"SAMLResponse", true}, {"xxSaMlReSpOnSe", true},
		{"samlrespons", false}, {"lllll samlresponsx SAMLRESPONSE", true}, {"samLResponse", true},
		{"<input name=SAMLRequest>", false}, {strings.Repeat("l", 100) + "SAMLRESPONSE", true},
	} {
		if got := containsFold([]byte(tc.b), "samlresponse"); got != tc.want {
			t.Errorf("containsFold(%q) = %v", tc.b, got)
		}
	}
	if !mentionsMessage([]byte("<input name=SAMLRequest>")) {
		t.Error("SAMLRequest not seen")
	}
}

// TestInterceptorAfterLogin: after_login is told of a successful login
// with what the SP receives (the hooks' edits), never of a denied one.
func TestInterceptorAfterLogin(t *testing.T) {
	got := make(chan *events.Event, 4)
	h := newHarnessAsync(t, `
exports.onBeforeSamlAssertion = (event, api) => {
  if (event.saml.name_id.value === "bob") { api.deny("no"); return; }
  api.assertion.setAttribute("tier", ["gold"]);
};
exports.onAfterLogin = async (event) => {};`, nil, func(_ string, ev *events.Event, _ *sandbox.Result, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- ev
	})
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), ""))
	h.do(t, "POST", "/x")
	select {
	case ev := <-got:
		if ev.Application != testSP || ev.User["sub"] != "alice" || ev.User["tier"] != "gold" || ev.Data["protocol"] != "saml" || ev.Data["session_index"] != "b8e5-9::c1" {
			t.Errorf("after_login %+v %+v", ev.User, ev.Data)
		}
		if roles, _ := ev.User["Role"].([]string); len(roles) != 2 {
			t.Errorf("Role = %v", ev.User["Role"])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("after_login not told")
	}
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("bob", 0)), "dsig", "ID_a1b2c3"), ""))
	h.do(t, "POST", "/x")
	select {
	case ev := <-got:
		t.Errorf("after_login told of a denied login: %+v", ev.User)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestInterceptorLogoutNamesHooksNameID: a hook changed the NameID at
// login; the IdP's LogoutRequest for that session (by POST, XML-signed,
// and by Redirect, query-signed) reaches the SP naming the hook's.
func TestInterceptorLogoutNamesHooksNameID(t *testing.T) {
	names, err := store.NewSwaps(store.NewMemory(), store.SwapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, `exports.onBeforeSamlAssertion = (event, api) => {
  api.assertion.setNameID("crm-42", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
};`, func(c *Config) { c.NameIDs = names })
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice@example.com", 0)), "dsig", "ID_a1b2c3"), ""))
	msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	if r, err := hooksVerifier().Verify(msg); err != nil || r.Model().NameID.Value != "crm-42" {
		t.Fatalf("login: %v", err)
	}

	h.page = serve("text/html", postPageFor("SAMLRequest", kcSignedRequest(t), ""))
	form, err := binding.ParsePost(h.do(t, "POST", "/realms/acme/protocol/saml").Body.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := form.Decode()
	l, err := hooksVerifier().VerifyLogout(out, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Model().NameID; n == nil || n.Value != "crm-42" || n.Format != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
		t.Errorf("LogoutRequest by POST names %+v, want the hook's NameID", n)
	}

	idp, hk := keys()
	q, _ := binding.SignRedirect("SAMLRequest", []byte(keycloakLogoutRequest()), "", RSASHA256, idp.key)
	h.page = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", testSLO+"?"+q)
		w.WriteHeader(http.StatusFound)
	}
	loc, _ := url.Parse(h.do(t, "GET", "/x").Header().Get("Location"))
	rd, err := binding.ParseRedirect(loc.RawQuery, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.Verify([]*x509.Certificate{hk.cert}, nil); err != nil {
		t.Fatal(err)
	}
	l, err = hooksVerifier().VerifyLogout(rd.Message, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Model().NameID; n == nil || n.Value != "crm-42" {
		t.Errorf("LogoutRequest by Redirect names %+v, want the hook's NameID", n)
	}

	// Another session's request keeps the IdP's NameID.
	other := strings.Replace(keycloakLogoutRequest(), kcSession, "other::session", 1)
	q, _ = binding.SignRedirect("SAMLRequest", []byte(other), "", RSASHA256, idp.key)
	loc, _ = url.Parse(h.do(t, "GET", "/x").Header().Get("Location"))
	rd, _ = binding.ParseRedirect(loc.RawQuery, 0)
	if l, err := hooksVerifier().VerifyLogout(rd.Message, true); err != nil || l.Model().NameID.Value != "alice@example.com" {
		t.Errorf("another session: %v %+v", err, l)
	}
}

// TestInterceptorAsksForDecodableCodings: browsers offer br, which
// idphooks cannot read; the IdP is asked only for codings it can.
func TestInterceptorAsksForDecodableCodings(t *testing.T) {
	h := newHarness(t, "", nil)
	var asked string
	h.page = func(w http.ResponseWriter, r *http.Request) {
		asked = r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<p>hi</p>"))
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/realms/acme/account", nil)
	r.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { h.page(w, r); return nil })
	if err := h.ic.ServeHTTP(w, r, next); err != nil || w.Code != 200 {
		t.Fatalf("%v %d", err, w.Code)
	}
	if asked != "gzip, deflate, zstd" {
		t.Errorf("the IdP was asked for %q", asked)
	}
}

// TestInterceptorHooksPerSP: a hook limited to other SPs does not run
// for this one (its edits and denials stay away), and still runs for its
// own; either way what the SP gets is re-signed by idphooks.
func TestInterceptorHooksPerSP(t *testing.T) {
	const hook = `exports.onBeforeSamlAssertion = (event, api) => { api.deny("not for " + event.application); };`
	page := postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3"), "")
	for _, tc := range []struct {
		apps   []string
		denied bool
	}{{[]string{"urn:other:sp"}, false}, {[]string{"urn:other:sp", testSP}, true}} {
		hookApps = tc.apps
		h := newHarness(t, hook, nil)
		hookApps = nil
		h.page = serve("text/html", page)
		msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
		r, err := hooksVerifier().Verify(msg)
		if err != nil {
			t.Fatal(err)
		}
		if denied := r.Model().Status.Code != StatusSuccess; denied != tc.denied {
			t.Errorf("hook for %v: denied %v, want %v", tc.apps, denied, tc.denied)
		}
	}
	// An assertion without an Audience cannot be told apart: with a hook
	// limited to some SPs it is refused, not passed unhooked.
	hookApps = []string{"urn:other:sp"}
	h := newHarness(t, hook, nil)
	hookApps = nil
	noAud := regexp.MustCompile(`<saml:AudienceRestriction>.*</saml:AudienceRestriction>`).ReplaceAllString(keycloakAssertion("alice", 0), "")
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(noAud), "dsig", "ID_a1b2c3"), ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("no Audience with filtered hooks: %d, want 502", w.Code)
	}
}

// TestInterceptorAfterLogout: the IdP's verified LogoutRequest to an SP
// raises after_logout with the NameID and session it names; an unsigned
// one (nothing verified) and a LogoutResponse (it names no one) do not.
func TestInterceptorAfterLogout(t *testing.T) {
	got := make(chan *events.Event, 4)
	h := newHarnessAsync(t, `exports.onAfterLogout = async (event) => {};`, nil, func(_ string, ev *events.Event, _ *sandbox.Result, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- ev
	})
	h.page = serve("text/html", postPageFor("SAMLRequest", kcSignedRequest(t), ""))
	if w := h.do(t, "POST", "/realms/acme/protocol/saml"); w.Code != 200 {
		t.Fatalf("LogoutRequest: %d %s", w.Code, w.Body)
	}
	select {
	case ev := <-got:
		if ev.Type != events.AfterLogout || ev.User["sub"] != "alice@example.com" || ev.Data["protocol"] != "saml" {
			t.Errorf("after_logout %+v %+v", ev.User, ev.Data)
		}
		if si, _ := ev.Data["session_indexes"].([]any); len(si) != 1 || si[0] != kcSession {
			t.Errorf("session_indexes %v", ev.Data["session_indexes"])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("after_logout not raised")
	}
	for name, page := range map[string]string{
		"unsigned LogoutRequest": postPageFor("SAMLRequest", keycloakLogoutRequest(), ""),
		"LogoutResponse":         postPageFor("SAMLResponse", kcSignedResponse(t), ""),
	} {
		h.page = serve("text/html", page)
		h.do(t, "POST", "/realms/acme/protocol/saml")
		select {
		case ev := <-got:
			t.Errorf("%s raised after_logout: %+v", name, ev.User)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
