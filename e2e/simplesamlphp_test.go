package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
	crewsaml "github.com/crewjam/saml"

	"github.com/idphooks/idphooks/caddymodule"
	"github.com/idphooks/idphooks/interceptors/saml"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// sspHook edits what the SP receives from SimpleSAMLphp: bob is denied,
// alice gets a new attribute, a changed one, a removed one and a NameID
// of the CRM's.
const sspHook = `
exports.onBeforeSamlAssertion = async (event, api) => {
  if (event.saml.name_id.value === "bob@example.com") { api.deny("bob is blocked in the CRM"); return; }
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.setAttribute("displayName", [event.user.displayName + " (EMEA)"]);
  api.assertion.removeAttribute("eduPersonAffiliation");
  api.assertion.setNameID("crm-" + event.user.uid, "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
  api.assertion.setAttribute("sp_seen", [event.application, event.saml.signed]);
};
`

const sspPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

// sspRig is SimpleSAMLphp behind Caddy + idp_hooks (SAML only, no OIDC
// upstream) and one crewjam SP that trusts only the metadata idphooks
// serves. Between Caddy and SimpleSAMLphp a tap keeps the SAMLResponse of
// each POST page as SimpleSAMLphp wrote it.
type sspRig struct {
	idp    *testidp.SimpleSAMLphp
	sp     *samlsp.SP
	origin string // Caddy's, the origin browsers and the SP use
	tap    *postTap
}

// startSSPRig starts the rig; extra holds further idp_hooks fields (the
// hooks). SimpleSAMLphp signs the assertion, and the Response too with
// signResponse.
func startSSPRig(t *testing.T, signResponse bool, extra map[string]any) *sspRig {
	t.Helper()
	return startSSPRigWith(t, signResponse, extra, nil)
}

// startSSPRigWith is startSSPRig with SimpleSAMLphp's options edited by
// mod.
func startSSPRigWith(t *testing.T, signResponse bool, extra map[string]any, mod func(*testidp.SimpleSAMLphpOptions)) *sspRig {
	t.Helper()
	return startSSPRigThen(t, signResponse, extra, mod, nil)
}

// startSSPRigThen is startSSPRigWith calling started, when set, once
// SimpleSAMLphp runs and before Caddy loads (to write its certificate
// where the config names it).
func startSSPRigThen(t *testing.T, signResponse bool, extra map[string]any, mod func(*testidp.SimpleSAMLphpOptions), started func(*testidp.SimpleSAMLphp)) *sspRig {
	t.Helper()
	// SimpleSAMLphp needs the SP's URLs and its own public origin before
	// it starts, Caddy needs SimpleSAMLphp's metadata, the SP needs
	// Caddy's: both addresses are taken first.
	addr := e2etest.FreeAddr(t)
	spListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	spAddr := spListener.Addr().String()
	origin := "http://" + addr
	key, cert, err := samlsp.NewKeyPair("e2e SP")
	if err != nil {
		t.Fatal(err)
	}
	entityID := "urn:idphooks:e2e:sp:simplesamlphp"
	opts := testidp.SimpleSAMLphpOptions{
		SPEntityID:    entityID,
		SPACSURL:      "http://" + spAddr + samlsp.ACSPath,
		SPSLOURL:      "http://" + spAddr + samlsp.SLOPath,
		SPCertificate: cert,
		SignResponse:  signResponse,
		PublicBaseURL: origin,
	}
	if os.Getenv("SIMPLESAMLPHP_LOG") != "" {
		opts.Log = os.Stderr
	}
	if mod != nil {
		mod(&opts)
	}
	idp, err := testidp.StartSimpleSAMLphp(opts)
	if errors.Is(err, testidp.ErrNoSimpleSAMLphp) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idp.Close() })
	if started != nil {
		started(idp)
	}
	tap := startPostTap(t, idp.BaseURL)

	// extra's saml options go beside idp_metadata.
	samlBlock := map[string]any{"idp_metadata": idp.MetadataURL}
	if s, ok := extra["saml"].(map[string]any); ok {
		maps.Copy(samlBlock, s)
	}
	handler := map[string]any{"upstream": nil}
	maps.Copy(handler, extra)
	handler["saml"] = samlBlock
	e2etest.LoadCaddy(t, e2etest.Config{
		Addr: addr, Dir: t.TempDir(), Upstream: idp.BaseURL, Dial: tap.addr, Handler: handler,
	})
	sp, err := samlsp.New(e2etest.Ctx(t), samlsp.Options{
		EntityID:       entityID,
		IDPMetadataURL: origin + caddymodule.DefaultSAMLMetadataPath,
		Key:            key,
		Certificate:    cert,
		Listener:       spListener,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return &sspRig{idp: idp, sp: sp, origin: origin, tap: tap}
}

// login logs user in through the rig with a fresh browser.
func (r *sspRig) login(t *testing.T, u testidp.User) (*samlsp.Result, error) {
	t.Helper()
	return r.sp.Login(e2etest.Ctx(t), e2etest.Browser(), u.Username, u.Password)
}

// postTap is a reverse proxy to SimpleSAMLphp that keeps the decoded
// SAMLResponse of every page that posts one.
type postTap struct {
	addr string
	mu   sync.Mutex
	sent [][]byte
}

// samlResponseInput is how SimpleSAMLphp's post.php writes the field.
var samlResponseInput = regexp.MustCompile(`name="SAMLResponse" value="([^"]*)"`)

func startPostTap(t *testing.T, target string) *postTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &postTap{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if m := samlResponseInput.FindSubmatch(b); m != nil {
			raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
			if err != nil {
				t.Errorf("tap: SimpleSAMLphp's SAMLResponse: %v", err)
			}
			tap.mu.Lock()
			tap.sent = append(tap.sent, raw)
			tap.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	tap.addr = strings.TrimPrefix(srv.URL, "http://")
	return tap
}

// last is the last SAMLResponse SimpleSAMLphp sent.
func (p *postTap) last(t *testing.T) []byte {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sent) == 0 {
		t.Fatal("SimpleSAMLphp sent no SAMLResponse through the tap")
	}
	return p.sent[len(p.sent)-1]
}

// checkSSPShape fails unless doc has the shape SimpleSAMLphp 1.19 gives
// its responses, so that a passing test says idphooks handled that shape:
// xs and xsi declared on the Assertion (not the Response) for the
// xsi:type="xs:string" of every AttributeValue, IDs starting with "_",
// signatures with the ds: prefix declared on the Signature. (Its
// responses have no XML declaration: the saml2 library's HTTPPost writes
// the element with saveXML($element). Its metadata has one.)
func checkSSPShape(t *testing.T, doc []byte) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatalf("SimpleSAMLphp's response: %v", err)
	}
	resp := d.Root()
	a := resp.FindElement("./Assertion")
	if a == nil {
		t.Fatalf("SimpleSAMLphp's response has no Assertion:\n%s", doc)
	}
	for _, ns := range []string{"xs", "xsi"} {
		if a.SelectAttr("xmlns:"+ns) == nil || resp.SelectAttr("xmlns:"+ns) != nil {
			t.Errorf("xmlns:%s is not declared on the Assertion alone:\n%s", ns, doc)
		}
	}
	for _, e := range []*etree.Element{resp, a} {
		if !strings.HasPrefix(e.SelectAttrValue("ID", ""), "_") {
			t.Errorf("<%s> ID %q does not start with _", e.Tag, e.SelectAttrValue("ID", ""))
		}
	}
	if sig := a.FindElement("./Signature"); sig == nil || sig.Space != "ds" || sig.SelectAttr("xmlns:ds") == nil {
		t.Errorf("the Assertion has no ds:Signature declaring ds:\n%s", doc)
	}
	if v := a.FindElement(".//AttributeValue"); v == nil || v.SelectAttrValue("xsi:type", "") != "xs:string" {
		t.Errorf("no AttributeValue of xsi:type xs:string:\n%s", doc)
	}
}

// signatures counts the Signature elements in doc and where they sit.
func signatures(t *testing.T, doc []byte) (response, assertion int) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	response = len(d.Root().SelectElements("Signature"))
	for _, a := range d.Root().SelectElements("Assertion") {
		assertion += len(a.SelectElements("Signature"))
	}
	return response, assertion
}

// TestSimpleSAMLphpLoginWithHooks: with SimpleSAMLphp signing the
// assertion, then the Response too, crewjam's SP logs in through Caddy +
// idp_hooks trusting only idphooks' metadata; the hook's edits arrive,
// signed where SimpleSAMLphp signed; bob is denied and the SP refuses the
// denial.
func TestSimpleSAMLphpLoginWithHooks(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", sspHook)
	for _, signing := range []string{testidp.SignAssertion, testidp.SignBoth} {
		t.Run(signing, func(t *testing.T) {
			rig := startSSPRig(t, signing == testidp.SignBoth, e2etest.Hooks(hook))
			u := testidp.TestUser
			res, err := rig.login(t, u)
			if err != nil {
				t.Fatal(err)
			}
			sent := rig.tap.last(t)
			checkSSPShape(t, sent)
			wantResp := map[string]int{testidp.SignAssertion: 0, testidp.SignBoth: 1}[signing]
			if r, a := signatures(t, sent); r != wantResp || a != 1 {
				t.Errorf("SimpleSAMLphp signed the Response %d and the Assertion %d times, want %d and 1", r, a, wantResp)
			}
			if r, a := signatures(t, res.Response); r != wantResp || a != 1 {
				t.Errorf("what the SP got is signed on the Response %d and the Assertion %d times, want %d and 1:\n%s", r, a, wantResp, res.Response)
			}

			if res.NameID != "crm-"+u.Username || res.NameIDFormat != sspPersistent {
				t.Errorf("NameID = %q (%s), want crm-%s (persistent)", res.NameID, res.NameIDFormat, u.Username)
			}
			attrs := testidp.SimpleSAMLphpAttributes[u.Username]
			for name, want := range map[string][]string{
				"tier":        {"gold"},
				"displayName": {attrs["displayName"][0] + " (EMEA)"},
				"uid":         attrs["uid"],
				"email":       attrs["email"],
				"sp_seen":     {rig.sp.EntityID(), signing},
			} {
				if got := res.Attributes[name]; !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if got, ok := res.Attributes["eduPersonAffiliation"]; ok {
				t.Errorf("eduPersonAffiliation still there: %q", got)
			}

			_, err = rig.login(t, testidp.SecondUser)
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("bob's login: %v, want the SP to refuse a denied response", err)
			}
		})
	}
}

// TestSimpleSAMLphpWithoutHooks: with no hook, the SP gets SimpleSAMLphp's
// response unchanged but for the signature, which is idphooks' (the SP
// trusts no other, and SimpleSAMLphp's certificate no longer verifies it).
func TestSimpleSAMLphpWithoutHooks(t *testing.T) {
	rig := startSSPRig(t, true, nil)
	u := testidp.TestUser
	res, err := rig.login(t, u)
	if err != nil {
		t.Fatal(err)
	}
	if res.NameID != u.Email {
		t.Errorf("NameID = %q, want %q", res.NameID, u.Email)
	}
	want := testidp.SimpleSAMLphpAttributes[u.Username]
	for name, vals := range want {
		if got := res.Attributes[name]; !slices.Equal(got, vals) {
			t.Errorf("%s = %q, want %q", name, got, vals)
		}
	}
	for name := range res.Attributes {
		if _, ok := want[name]; !ok {
			t.Errorf("attribute %s added", name)
		}
	}

	sent := rig.tap.last(t)
	checkSSPShape(t, sent)
	if a, b := unsigned(t, sent), unsigned(t, res.Response); a != b {
		t.Errorf("without its signatures, what the SP got differs from what SimpleSAMLphp sent:\nsent:\n%s\ngot:\n%s\n(as sent:\n%s\nas got:\n%s)", a, b, sent, res.Response)
	}
	if bytes.Equal(sent, res.Response) {
		t.Error("the SP got SimpleSAMLphp's response as it was, with SimpleSAMLphp's signatures")
	}
	if _, err := (&saml.Verifier{Certificates: []*x509.Certificate{rig.idp.Certificate}}).Verify(res.Response); err == nil {
		t.Error("what the SP got still verifies with SimpleSAMLphp's certificate")
	}
	md, err := saml.ParseIdPMetadata([]byte(e2etest.Get(t, rig.origin+caddymodule.DefaultSAMLMetadataPath)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&saml.Verifier{Certificates: md.Signing}).Verify(res.Response); err != nil {
		t.Errorf("what the SP got does not verify with idphooks' published certificates: %v", err)
	}

	// SimpleSAMLphp's own response, replayed to the SP past idphooks, is
	// refused for its signature; what idphooks sent, parsed the same way,
	// is taken.
	d := etree.NewDocument()
	if err := d.ReadFromBytes(sent); err != nil {
		t.Fatal(err)
	}
	ids := []string{d.Root().SelectAttrValue("InResponseTo", "")}
	_, err = rig.sp.SP.ParseXMLResponse(sent, ids, rig.sp.SP.AcsURL)
	if err == nil {
		t.Fatal("the SP accepts SimpleSAMLphp's own response")
	}
	why := err.Error()
	var ire *crewsaml.InvalidResponseError
	if errors.As(err, &ire) {
		why += ": " + fmt.Sprint(ire.PrivateErr)
	}
	if !strings.Contains(why, "signature") {
		t.Errorf("the SP refuses SimpleSAMLphp's own response for another reason than its signature: %s", why)
	}
	t.Logf("SimpleSAMLphp's own response replayed to the SP: %s", why)
	if _, err := rig.sp.SP.ParseXMLResponse(res.Response, ids, rig.sp.SP.AcsURL); err != nil {
		t.Errorf("the SP refuses idphooks' response parsed again: %v", err)
	}
}

// unsigned is what doc says without its Signature elements, in a form
// that ignores how XML may be rewritten without changing what it means
// (as idphooks writes the exclusive-C14N form it signed): each element
// and attribute by namespace URI and local name, attributes sorted,
// namespace declarations left out but the prefix of an xsi:type value
// resolved to its URI, text as it is.
func unsigned(t *testing.T, doc []byte) string {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var walk func(e *etree.Element, depth int)
	walk = func(e *etree.Element, depth int) {
		if e.Tag == "Signature" && e.NamespaceURI() == dsigNS {
			return
		}
		var attrs []string
		for _, a := range e.Attr {
			if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
				continue
			}
			v := a.Value
			if a.NamespaceURI() == xsiNS && a.Key == "type" {
				if p, local, ok := strings.Cut(v, ":"); ok {
					v = "{" + prefixURI(e, p) + "}" + local
				}
			}
			attrs = append(attrs, "{"+a.NamespaceURI()+"}"+a.Key+"="+strconv.Quote(v))
		}
		slices.Sort(attrs)
		fmt.Fprintf(&sb, "%s{%s}%s %s\n", strings.Repeat("  ", depth), e.NamespaceURI(), e.Tag, strings.Join(attrs, " "))
		for _, c := range e.Child {
			switch c := c.(type) {
			case *etree.Element:
				walk(c, depth+1)
			case *etree.CharData:
				if strings.TrimSpace(c.Data) != "" {
					fmt.Fprintf(&sb, "%s%q\n", strings.Repeat("  ", depth+1), c.Data)
				}
			}
		}
	}
	walk(d.Root(), 0)
	return sb.String()
}

const (
	dsigNS = "http://www.w3.org/2000/09/xmldsig#"
	xsiNS  = "http://www.w3.org/2001/XMLSchema-instance"
)

// prefixURI is the namespace URI prefix p stands for at e.
func prefixURI(e *etree.Element, p string) string {
	for ; e != nil; e = e.Parent() {
		if a := e.SelectAttr("xmlns:" + p); a != nil {
			return a.Value
		}
	}
	return ""
}

// TestSimpleSAMLphpPublishedMetadata: what an SP can learn through Caddy,
// at idphooks' metadata path and at SimpleSAMLphp's own (which is its
// entity id), names SimpleSAMLphp as the IdP on the public origin but
// holds only idphooks' certificates: SimpleSAMLphp's, in any
// KeyDescriptor, would let an SP that pools an entity's certificates
// accept SimpleSAMLphp's responses unhooked.
func TestSimpleSAMLphpPublishedMetadata(t *testing.T) {
	rig := startSSPRig(t, false, nil)
	sspCert := base64.StdEncoding.EncodeToString(rig.idp.Certificate.Raw)
	direct := e2etest.Get(t, rig.idp.MetadataURL)
	if !strings.Contains(direct, sspCert) || !strings.HasPrefix(direct, "<?xml") {
		t.Fatalf("SimpleSAMLphp's own metadata has no XML declaration or not its certificate:\n%s", direct)
	}
	// PublicBaseURL: SimpleSAMLphp itself names the proxy's origin, even
	// to a fetch on its own address.
	for _, want := range []string{`entityID="` + rig.origin + `/saml2/idp/metadata.php"`, `Location="` + rig.origin + `/saml2/idp/SSOService.php"`} {
		if !strings.Contains(direct, want) {
			t.Errorf("SimpleSAMLphp's own metadata has no %s:\n%s", want, direct)
		}
	}
	var published []*saml.IdPMetadata
	for _, u := range []string{rig.origin + caddymodule.DefaultSAMLMetadataPath, rig.idp.EntityID} {
		doc := e2etest.Get(t, u)
		md, err := saml.ParseIdPMetadata([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v\n%s", u, err, doc)
		}
		if md.EntityID != rig.idp.EntityID {
			t.Errorf("%s: entity id %q, want %q", u, md.EntityID, rig.idp.EntityID)
		}
		if len(md.Signing) == 0 {
			t.Fatalf("%s: no signing certificate", u)
		}
		for _, c := range md.Signing {
			if c.Equal(rig.idp.Certificate) {
				t.Errorf("%s: SimpleSAMLphp's certificate is a signing certificate", u)
			}
		}
		for _, c := range md.Encryption {
			if c.Equal(rig.idp.Certificate) {
				t.Errorf("%s: SimpleSAMLphp's certificate, the one it signs with, is published as an encryption certificate (its metadata lists it under use=\"signing\" and use=\"encryption\")", u)
			}
		}
		if strings.Contains(doc, sspCert) {
			t.Logf("%s:\n%s", u, doc)
		}
		for _, s := range md.SSO {
			if !strings.HasPrefix(s.Location, rig.origin+"/") {
				t.Errorf("%s: SSO %s at %s, not on %s", u, s.Binding, s.Location, rig.origin)
			}
		}
		published = append(published, md)
	}
	if !published[0].Signing[0].Equal(published[1].Signing[0]) {
		t.Error("the two metadata paths publish different certificates")
	}
}
