package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/saml/binding"
	"github.com/idphooks/idphooks/sandbox"
)

// Keycloak writes no EncryptedID or EncryptedAttribute (its SAML clients
// encrypt whole assertions only), so these are made here as an IdP makes
// them (saml-core §2.2.4, §2.7.3.2), with Keycloak's algorithms
// (aes256-gcm, xmlenc11 rsa-oaep) and its EncryptedData shape, in its
// response; the SP that reads what idphooks sends is crewjam's, which
// decrypts both.

const (
	nameIDPath = "//NameID"
	emailPath  = "//Attribute[@Name='email']"
)

// sealPart replaces the element of xml at path by its wrapper
// (EncryptedID, EncryptedAttribute) made by e for to; mutate, when set,
// changes the data's CipherValue first.
func sealPart(t testing.TB, xml, path, wrapper string, to *x509.Certificate, e xmlenc.RSA, mutate func([]byte) []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	el := doc.FindElement(path)
	if el == nil {
		t.Fatalf("no %s", path)
	}
	det := detach(t, el)
	pd := etree.NewDocument()
	pd.SetRoot(det)
	plain, _ := pd.WriteToBytes()
	return sealPlain(t, doc, el, wrapper, plain, to, e, mutate)
}

// sealPlain puts plain, encrypted, in place of el.
func sealPlain(t testing.TB, doc *etree.Document, el *etree.Element, wrapper string, plain []byte, to *x509.Certificate, e xmlenc.RSA, mutate func([]byte) []byte) string {
	t.Helper()
	ed, err := e.Encrypt(to, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	keycloakShape(ed)
	if mutate != nil {
		cv := ed.FindElement("./CipherData/CipherValue")
		b, _ := base64.StdEncoding.DecodeString(cv.Text())
		cv.SetText(base64.StdEncoding.EncodeToString(mutate(slices.Clone(b))))
	}
	w := etree.NewElement("saml:" + wrapper)
	w.AddChild(ed)
	p, i := el.Parent(), el.Index()
	p.RemoveChildAt(i)
	p.InsertChildAt(i, w)
	out, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sealAt is sealPlain on the element of xml at path.
func sealAt(t testing.TB, xml, path, wrapper, plain string) string {
	t.Helper()
	h, _ := encKeys()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	return sealPlain(t, doc, doc.FindElement(path), wrapper, []byte(plain), h.cert, keycloakEncryption(), nil)
}

// kcParts is the Keycloak-shaped response with its NameID and email
// attribute encrypted to to, signed where p says, its whole assertion
// encrypted to idphooks too when whole.
func kcParts(t testing.TB, p Placement, whole bool, to *x509.Certificate) string {
	t.Helper()
	x := keycloakResponse(keycloakAssertion("alice", 0))
	x = sealPart(t, x, nameIDPath, "EncryptedID", to, keycloakEncryption(), nil)
	x = sealPart(t, x, emailPath, "EncryptedAttribute", to, keycloakEncryption(), nil)
	return signParts(t, x, p, whole)
}

// signParts signs (and encrypts) a response as the IdP does, after its
// parts are encrypted.
func signParts(t testing.TB, x string, p Placement, whole bool) string {
	t.Helper()
	h, _ := encKeys()
	if p&SignedAssertion != 0 {
		x = idpSign(t, x, "dsig", "ID_a1b2c3")
	}
	if whole {
		x = encryptWith(t, x, h.cert, keycloakEncryption())
	}
	if p&SignedResponse != 0 {
		x = idpSign(t, x, "dsig", "ID_r9f8e7")
	}
	return x
}

// plainOf is the assertion idphooks sent the SP, decrypted with the SP's
// key: what the browser would see of it if it were not encrypted whole.
func plainOf(t testing.TB, out []byte) string {
	t.Helper()
	_, sp := encKeys()
	od, err := Parse(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := xmlenc.Decrypt(sp.key, od.FindElement("//EncryptedAssertion/EncryptedData"))
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

// eachPlacement runs f for every placement of the IdP's signatures, with
// and without the whole assertion encrypted too.
func eachPlacement(t *testing.T, f func(t *testing.T, p Placement, whole bool)) {
	for _, p := range []Placement{SignedAssertion, SignedResponse, SignedResponse | SignedAssertion} {
		for _, whole := range []bool{false, true} {
			name := p.String()
			if whole {
				name += "/whole assertion encrypted"
			}
			t.Run(name, func(t *testing.T) { f(t, p, whole) })
		}
	}
}

// TestEncryptedPartsOpened: a NameID and an attribute the IdP encrypted
// to idphooks read as if they had come in clear, take a hook's edits, and
// leave encrypted to the SP (inside its signature, inside the encrypted
// assertion), for every placement, with and without the whole assertion
// encrypted too; crewjam's SP, trusting only idphooks, reads the edits.
func TestEncryptedPartsOpened(t *testing.T) {
	h, sp := encKeys()
	eachPlacement(t, func(t *testing.T, p Placement, whole bool) {
		r, err := encVerifier().Verify([]byte(kcParts(t, p, whole, h.cert)))
		if err != nil {
			t.Fatal(err)
		}
		m := r.Model()
		if m.NameID.Value != "alice" || m.NameID.Format == "" || !slices.Equal(m.Attributes["email"].Values, []string{"alice@example.com"}) ||
			m.Attributes["email"].FriendlyName != "email" || len(m.Attributes["Role"].Values) != 2 || r.Sealed() != nil {
			t.Fatalf("model %+v, sealed %v", m, r.Sealed())
		}
		ops := []sandbox.Op{
			{Object: "assertion", Method: "setNameID", Args: []any{"crm-alice", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}},
			{Object: "assertion", Method: "setAttribute", Args: []any{"email", []any{"alice@crm.test"}}},
			{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}},
		}
		if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
			t.Fatal(err)
		}
		r.EncryptTo = &Encryption{Certificate: sp.cert}
		out, err := signer().Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		plain := plainOf(t, out)
		for _, clear := range []string{"crm-alice", "alice@crm.test", "alice@example.com"} {
			if strings.Contains(plain, clear) {
				t.Errorf("%q in clear in the assertion:\n%s", clear, plain)
			}
		}
		if strings.Count(plain, "EncryptedID>") != 2 || strings.Count(plain, "EncryptedAttribute>") != 2 || !strings.Contains(plain, "gold") {
			t.Errorf("not one EncryptedID and one EncryptedAttribute beside a clear tier:\n%s", plain)
		}
		a := acceptedByEncSP(t, out)
		if a.Subject.NameID == nil || a.Subject.NameID.Value != "crm-alice" || !slices.Equal(spValues(a, "email"), []string{"alice@crm.test"}) ||
			!slices.Equal(spValues(a, "tier"), []string{"gold"}) || len(spValues(a, "Role")) != 2 {
			t.Errorf("the SP read NameID %+v, email %q, tier %q", a.Subject.NameID, spValues(a, "email"), spValues(a, "tier"))
		}
		// r stays readable after Sign, opened.
		if m := r.Model(); m.NameID.Value != "crm-alice" || m.Attributes["email"].Values[0] != "alice@crm.test" {
			t.Errorf("model after Sign: %+v", m)
		}
		// Read back by idphooks' own verifier with the SP's key.
		_, hk := keys()
		back := &Verifier{Certificates: []*x509.Certificate{hk.cert}, DecryptionKeys: []*rsa.PrivateKey{sp.key}}
		again, err := back.Verify(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := again.Model(); got.NameID.Value != "crm-alice" || got.Attributes["email"].Values[0] != "alice@crm.test" {
			t.Errorf("read back: %+v", got)
		}
	})
}

// TestEncryptedPartsNoHook: with no hook, what the SP reads is what the
// IdP sent.
func TestEncryptedPartsNoHook(t *testing.T) {
	h, sp := encKeys()
	r, err := encVerifier().Verify([]byte(kcParts(t, SignedAssertion, false, h.cert)))
	if err != nil {
		t.Fatal(err)
	}
	r.EncryptTo = &Encryption{Certificate: sp.cert}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	a := acceptedByEncSP(t, out)
	if a.Subject.NameID.Value != "alice" || !slices.Equal(spValues(a, "email"), []string{"alice@example.com"}) {
		t.Errorf("the SP read %+v, email %q", a.Subject.NameID, spValues(a, "email"))
	}
}

// TestEncryptedPartsSealed: what idphooks cannot open goes as it came,
// under idphooks' signature, and says why; hooks see no NameID and no
// such attribute. An IdP encrypting the parts to the SP itself: the SP
// reads them.
func TestEncryptedPartsSealed(t *testing.T) {
	h, sp := encKeys()
	for _, tc := range []struct {
		name   string
		xml    string
		v      *Verifier
		reason string
	}{
		{"decryption off", kcParts(t, SignedAssertion, false, sp.cert), verifier(), "decryption is not configured"},
		{"to the SP's certificate", kcParts(t, SignedAssertion, false, sp.cert), encVerifier(), "idphooks holds no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.v.Verify([]byte(tc.xml))
			if err != nil {
				t.Fatal(err)
			}
			m := r.Model()
			if m.NameID.Value != "" || len(m.Attributes["email"].Values) != 0 {
				t.Errorf("model %+v", m)
			}
			if s := r.Sealed(); len(s) != 2 || s[0].Part != "NameID" || s[1].Part != "Attribute" || !strings.Contains(s[0].Reason, tc.reason) {
				t.Errorf("sealed %+v", s)
			}
			out, err := signer().Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, cv := range regexpAll(tc.xml, `<xenc:CipherValue>[^<]*</xenc:CipherValue>`) {
				if !strings.Contains(string(out), cv) {
					t.Errorf("a ciphertext changed")
				}
			}
			a := acceptedByEncSP(t, out)
			if a.Subject.NameID == nil || a.Subject.NameID.Value != "alice" || !slices.Equal(spValues(a, "email"), []string{"alice@example.com"}) {
				t.Errorf("the SP read %+v, email %q", a.Subject.NameID, spValues(a, "email"))
			}
		})
	}
	// An EncryptedID holding a BaseID: no reader of event.saml knows one.
	x := keycloakResponse(keycloakAssertion("alice", 0))
	x = sealAt(t, x, nameIDPath, "EncryptedID", `<saml:BaseID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="x:y"/>`)
	r, err := encVerifier().Verify([]byte(signParts(t, x, SignedAssertion, false)))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Sealed(); len(s) != 1 || !strings.Contains(s[0].Reason, "BaseID") || r.parts.pending() {
		t.Errorf("sealed %+v", s)
	}
	_ = h
}

func regexpAll(s, re string) []string {
	return regexp.MustCompile(re).FindAllString(s, -1)
}

// TestEncryptedPartsRefused: an encrypted part that unwraps with
// idphooks' key and then fails is refused whatever the cause (the
// xmlseclibs CVE-2026-32313 shapes: a GCM tag flipped, cut short or cut
// off), as are refused algorithms and plaintexts that break the rules of
// a clear message; every one signed by the IdP, so that only the
// encryption is wrong.
func TestEncryptedPartsRefused(t *testing.T) {
	h, _ := encKeys()
	base := keycloakResponse(keycloakAssertion("alice", 0))
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte { b[(len(b)+at)%len(b)] ^= 1; return b }
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:len(b)-n] } }
	mutated := func(path, wrapper string, f func([]byte) []byte) string {
		return signParts(t, sealPart(t, base, path, wrapper, h.cert, keycloakEncryption(), f), SignedAssertion, false)
	}
	with := func(e xmlenc.RSA) string {
		return signParts(t, sealPart(t, base, nameIDPath, "EncryptedID", h.cert, e, nil), SignedAssertion, false)
	}
	plain := func(path, wrapper, plain string) string {
		return signParts(t, sealAt(t, base, path, wrapper, plain), SignedAssertion, false)
	}
	const ns = `xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`
	rsa15 := xmlenc.PKCS1v15()
	rsa15.BlockCipher = xmlenc.AES256GCM
	cases := map[string]struct {
		xml  string
		want error
	}{
		"EncryptedID GCM tag flipped":          {mutated(nameIDPath, "EncryptedID", flip(-1)), ErrDecrypt},
		"EncryptedID GCM tag cut to 12 bytes":  {mutated(nameIDPath, "EncryptedID", cut(4)), ErrDecrypt},
		"EncryptedID GCM tag cut off":          {mutated(nameIDPath, "EncryptedID", cut(16)), ErrDecrypt},
		"EncryptedID ciphertext flipped":       {mutated(nameIDPath, "EncryptedID", flip(14)), ErrDecrypt},
		"EncryptedAttribute GCM tag flipped":   {mutated(emailPath, "EncryptedAttribute", flip(-1)), ErrDecrypt},
		"EncryptedAttribute GCM tag cut off":   {mutated(emailPath, "EncryptedAttribute", cut(16)), ErrDecrypt},
		"rsa-1_5 key transport":                {with(rsa15), ErrAlgorithm},
		"an Attribute in an EncryptedID":       {plain(nameIDPath, "EncryptedID", `<saml:Attribute `+ns+` Name="x"/>`), ErrDecrypt},
		"a NameID in an EncryptedAttribute":    {plain(emailPath, "EncryptedAttribute", `<saml:NameID `+ns+`>admin</saml:NameID>`), ErrDecrypt},
		"a NameID not declaring its namespace": {plain(nameIDPath, "EncryptedID", `<saml:NameID>admin</saml:NameID>`), ErrDecrypt},
		"not XML":                              {plain(nameIDPath, "EncryptedID", `admin`), ErrDecrypt},
		"a DOCTYPE":                            {plain(nameIDPath, "EncryptedID", `<!DOCTYPE a [<!ENTITY x "admin">]><saml:NameID `+ns+`>&x;</saml:NameID>`), ErrDoctype},
		"a comment splitting the NameID":       {plain(nameIDPath, "EncryptedID", `<saml:NameID `+ns+`>admin@a.test<!---->.evil.test</saml:NameID>`), ErrWrapping},
		"an assertion in an attribute value":   {plain(emailPath, "EncryptedAttribute", `<saml:Attribute `+ns+` Name="email"><saml:AttributeValue><saml:Assertion ID="inner"/></saml:AttributeValue></saml:Attribute>`), ErrWrapping},
		"a signature in an attribute":          {plain(emailPath, "EncryptedAttribute", `<saml:Attribute `+ns+` Name="email">`+regexpFind(kcSigned(t, SignedAssertion), `(?s)<dsig:Signature .*?</dsig:Signature>`)+`</saml:Attribute>`), ErrWrapping},
		"an ID of the assertion's":             {plain(emailPath, "EncryptedAttribute", `<saml:Attribute `+ns+` ID="ID_a1b2c3" Name="email"/>`), ErrWrapping},
		"nested too deep":                      {plain(nameIDPath, "EncryptedID", `<saml:NameID `+ns+`>`+strings.Repeat("<a>", DefaultMaxDepth-2)+strings.Repeat("</a>", DefaultMaxDepth-2)+`</saml:NameID>`), ErrTooDeep},
		"a NameID beside the EncryptedID":      {signParts(t, strings.Replace(sealPart(t, base, nameIDPath, "EncryptedID", h.cert, keycloakEncryption(), nil), "<saml:SubjectConfirmation ", `<saml:NameID>admin</saml:NameID><saml:SubjectConfirmation `, 1), SignedAssertion, false), ErrStructure},
		"an EncryptedID without EncryptedData": {signParts(t, strings.Replace(base, regexpFind(base, `<saml:NameID [^>]*>alice</saml:NameID>`), `<saml:EncryptedID/>`, 1), SignedAssertion, false), ErrStructure},
		"a CipherReference in the EncryptedID": {signParts(t, strings.Replace(base, regexpFind(base, `<saml:NameID [^>]*>alice</saml:NameID>`), `<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="`+AES256GCM+`"/><xenc:CipherData><xenc:CipherReference URI="http://attacker.test/"/></xenc:CipherData></xenc:EncryptedData></saml:EncryptedID>`, 1), SignedAssertion, false), ErrStructure},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := encVerifier().Verify([]byte(c.xml))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}

// TestEncryptedPartsNeedSPCertificate: opened parts are never sent in
// clear: Sign without an SP certificate fails, and the interceptor
// refuses the response for an SP without encryption_certificate.
func TestEncryptedPartsNeedSPCertificate(t *testing.T) {
	h, _ := encKeys()
	x := kcParts(t, SignedAssertion, false, h.cert)
	r, err := encVerifier().Verify([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer().Sign(r); err == nil || !strings.Contains(err.Error(), "came encrypted") {
		t.Fatalf("Sign without a certificate: %v", err)
	}
	if m := r.Model(); m.NameID.Value != "alice" {
		t.Errorf("a failed Sign left %+v", m)
	}
	hn := newHarness(t, "", func(c *Config) { c.Decryption = testDecryption{} })
	hn.page = serve("text/html", postPage(x, ""))
	if w := hn.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("for an SP without a certificate: %d, want 502", w.Code)
	}
}

// TestInterceptorEncryptedParts: through the interceptor, a hook reads
// and edits the NameID and attribute the IdP encrypted to idphooks, and
// the SP reads the edits; without decryption the page passes re-signed
// with the parts as they came, and the log says why.
func TestInterceptorEncryptedParts(t *testing.T) {
	h, sp := encKeys()
	const hook = `exports.onBeforeSamlAssertion = async (event, api) => {
  if (event.saml.name_id.value !== "alice" || event.user.email !== "alice@example.com") { api.deny("not seen: " + JSON.stringify(event.saml.name_id)); return; }
  api.assertion.setNameID("crm-" + event.saml.name_id.value);
  api.assertion.setAttribute("email", [event.user.email.replace("example.com", "crm.test")]);
};`
	hn := newHarness(t, hook, withEncryption)
	hn.page = serve("text/html", postPage(kcParts(t, SignedResponse, true, h.cert), "rs"))
	w := hn.do(t, "POST", "/x")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	msg, _ := sentMessage(t, w.Body.Bytes())
	a := acceptedByEncSP(t, msg)
	if a.Subject.NameID.Value != "crm-alice" || !slices.Equal(spValues(a, "email"), []string{"alice@crm.test"}) {
		t.Errorf("the SP read %+v, email %q", a.Subject.NameID, spValues(a, "email"))
	}

	core, logs := observer.New(zapcore.InfoLevel)
	now := time.Now()
	hn = newHarness(t, tierHook, func(c *Config) {
		c.Logger = zap.New(core)
		c.Now = func() time.Time { return now }
		c.SPs = map[string]SP{testSP: {EncryptionCertificate: sp.cert}}
	})
	hn.page = serve("text/html", postPage(kcParts(t, SignedAssertion, false, sp.cert), ""))
	for range 2 {
		w = hn.do(t, "POST", "/x")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	msg, _ = sentMessage(t, w.Body.Bytes())
	if a := acceptedByEncSP(t, msg); a.Subject.NameID.Value != "alice" || !slices.Equal(spValues(a, "tier"), []string{"gold"}) {
		t.Errorf("the SP read %+v, tier %q", a.Subject.NameID, spValues(a, "tier"))
	}
	got := logs.FilterMessageSnippet("passed encrypted").All()
	if len(got) != 2 || got[0].ContextMap()["sp"] != testSP || got[0].ContextMap()["reason"] != "decryption is not configured" {
		t.Fatalf("log lines %+v, want one per part", got)
	}
}

// sspEncryptedLogout is SimpleSAMLphp's LogoutRequest with its NameID
// encrypted to to (nameid.encryption), signed by the IdP.
func sspEncryptedLogout(t testing.TB, to *x509.Certificate) string {
	x := sealPart(t, simpleSAMLphpLogoutRequest(ts(5*time.Minute)), nameIDPath, "EncryptedID", to, keycloakEncryption(), nil)
	return idpSign(t, x, "ds", sspRequestID)
}

// TestEncryptedIDLogout: a LogoutRequest whose NameID the IdP encrypted
// to idphooks shows the NameID to events, and goes to the SP encrypted to
// its certificate, by POST and by Redirect; crewjam's SP, trusting only
// idphooks, reads it. Without a certificate for the SP it names, the
// interceptor refuses it.
func TestEncryptedIDLogout(t *testing.T) {
	h, sp := encKeys()
	_, hooks := keys()
	spWithKey := func(t *testing.T) *crewjam.ServiceProvider {
		s := logoutSP(t)
		s.Key, s.Certificate = sp.key, sp.cert
		return s
	}
	up := sspEncryptedLogout(t, h.cert)
	l, err := encVerifier().VerifyLogout([]byte(up), false)
	if err != nil {
		t.Fatal(err)
	}
	if m := l.Model(); m.NameID == nil || m.NameID.Value != sspNameID || m.NameID.SPNameQualifier != testSP || !l.NameIDOpened() {
		t.Fatalf("model %+v", m)
	}
	if _, err := signer().SignLogout(l); err == nil {
		t.Fatal("signed with the NameID in clear")
	}
	l.EncryptTo = &Encryption{Certificate: sp.cert}
	out, err := signer().SignLogout(l)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), sspNameID) || !strings.Contains(string(out), "EncryptedID") {
		t.Fatalf("the NameID in clear:\n%s", out)
	}
	req, err := spWithKey(t).ValidateLogoutRequestForm(base64.StdEncoding.EncodeToString(out))
	if err != nil {
		t.Fatalf("SP refused: %v\n%s", spErr(err), out)
	}
	if req.NameID == nil || req.NameID.Value != sspNameID {
		t.Fatalf("SP read %+v", req.NameID)
	}

	// Redirect, signed in the query only.
	idp, _ := keys()
	plainReq := sealPart(t, simpleSAMLphpLogoutRequest(ts(5*time.Minute)), nameIDPath, "EncryptedID", h.cert, keycloakEncryption(), nil)
	q, err := binding.SignRedirect("SAMLRequest", []byte(plainReq), "", RSASHA256, idp.key)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := binding.ParseRedirect(q, 0)
	l, err = encVerifier().VerifyLogout(in.Message, true)
	if err != nil {
		t.Fatal(err)
	}
	l.EncryptTo = &Encryption{Certificate: sp.cert}
	out, err = signer().SignLogout(l)
	if err != nil {
		t.Fatal(err)
	}
	ours, _ := binding.SignRedirect("SAMLRequest", out, "", RSASHA256, hooks.key)
	req, err = spWithKey(t).ValidateLogoutRequest(httptest.NewRequest("GET", testSLO+"?"+ours, nil))
	if err != nil {
		t.Fatalf("SP refused: %v", spErr(err))
	}
	if req.NameID == nil || req.NameID.Value != sspNameID {
		t.Fatalf("SP read %+v", req.NameID)
	}

	// A NameID holding an assertion, in a LogoutRequest (which holds none).
	bad := sealAt(t, simpleSAMLphpLogoutRequest(ts(5*time.Minute)), nameIDPath, "EncryptedID",
		`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">x<saml:Assertion ID="inner"/></saml:NameID>`)
	if _, err := encVerifier().VerifyLogout([]byte(idpSign(t, bad, "ds", sspRequestID)), false); !errors.Is(err, ErrWrapping) {
		t.Errorf("an assertion inside the decrypted NameID: %v", err)
	}

	// Through the interceptor.
	hn := newHarness(t, "", withEncryption)
	hn.page = serve("text/html", postPageFor("SAMLRequest", up, ""))
	w := hn.do(t, "POST", "/realms/acme/protocol/saml")
	form, err := binding.ParsePost(w.Body.Bytes(), 0)
	if err != nil {
		t.Fatalf("%d %v", w.Code, err)
	}
	msg, err := form.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if req, err := spWithKey(t).ValidateLogoutRequestForm(base64.StdEncoding.EncodeToString(msg)); err != nil || req.NameID.Value != sspNameID {
		t.Fatalf("SP: %v, %+v", spErr(err), req)
	}
	hn = newHarness(t, "", func(c *Config) { c.Decryption = testDecryption{} })
	hn.page = serve("text/html", postPageFor("SAMLRequest", up, ""))
	if w := hn.do(t, "POST", "/realms/acme/protocol/saml"); w.Code != http.StatusBadGateway {
		t.Errorf("for an SP without a certificate: %d, want 502", w.Code)
	}
}

// BenchmarkEncryptedPartsRoundTrip is BenchmarkEncryptedRoundTrip with
// the NameID and one attribute encrypted too, both ways: two more RSA-OAEP
// unwraps and two more wraps than the whole assertion alone.
func BenchmarkEncryptedPartsRoundTrip(b *testing.B) {
	h, sp := encKeys()
	x := keycloakResponse(keycloakAssertion("alice", 10))
	x = sealPart(b, x, nameIDPath, "EncryptedID", h.cert, keycloakEncryption(), nil)
	x = sealPart(b, x, emailPath, "EncryptedAttribute", h.cert, keycloakEncryption(), nil)
	benchRoundTrip(b, signParts(b, x, SignedAssertion, true), encVerifier(), &Encryption{Certificate: sp.cert}, []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}},
		{Object: "assertion", Method: "setNameID", Args: []any{"crm-alice", ""}},
	})
}

// TestEncryptedPartsStayProtected: an attribute that came encrypted is
// held to protect_attributes like a clear one.
func TestEncryptedPartsStayProtected(t *testing.T) {
	h, _ := encKeys()
	r, err := encVerifier().Verify([]byte(kcParts(t, SignedAssertion, false, h.cert)))
	if err != nil {
		t.Fatal(err)
	}
	p := events.NewAssertionPolicy([]string{"email"})
	for _, op := range []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"email", "x@evil.test"}},
		{Object: "assertion", Method: "removeAttribute", Args: []any{"email"}},
	} {
		if _, err := r.Apply(p, []sandbox.Op{op}); !errors.Is(err, ErrProtected) {
			t.Errorf("%s on a protected attribute that came encrypted: %v", op.Method, err)
		}
	}
	if m := r.Model(); !slices.Equal(m.Attributes["email"].Values, []string{"alice@example.com"}) {
		t.Errorf("email %q", m.Attributes["email"].Values)
	}
}

// The identifier of a SubjectConfirmation (saml-core §2.4.1.1): the
// entity that confirms the Subject, a proxy say, here named beside the
// Subject's own NameID.
const (
	confirmerPath = "//SubjectConfirmation/NameID"
	confirmer     = "https://proxy.example.org/saml"
)

// withConfirmer gives the bearer SubjectConfirmation of a Keycloak-shaped
// response a NameID of its own, before its SubjectConfirmationData.
func withConfirmer(x string) string {
	return strings.Replace(x, `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">`,
		`<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">`+confirmer+`</saml:NameID>`, 1)
}

// kcConfirmed is the Keycloak-shaped response whose SubjectConfirmation
// NameID and Subject NameID are encrypted to to, signed where p says, its
// whole assertion encrypted to idphooks too when whole.
func kcConfirmed(t testing.TB, p Placement, whole bool, to *x509.Certificate) string {
	t.Helper()
	x := withConfirmer(keycloakResponse(keycloakAssertion("alice", 0)))
	x = sealPart(t, x, confirmerPath, "EncryptedID", to, keycloakEncryption(), nil)
	x = sealPart(t, x, "//Subject/NameID", "EncryptedID", to, keycloakEncryption(), nil)
	return signParts(t, x, p, whole)
}

// TestEncryptedSubjectConfirmationID: an EncryptedID in a
// SubjectConfirmation that the IdP encrypted to idphooks is opened with
// the Subject's and sealed again to the SP, for every placement, with and
// without the whole assertion encrypted: crewjam's SP, which decrypts a
// SubjectConfirmation's EncryptedID and refuses the assertion when it
// cannot, reads it. It is not the hooks': setNameID changes the Subject's
// NameID only, and the model shows the Subject's.
func TestEncryptedSubjectConfirmationID(t *testing.T) {
	h, sp := encKeys()
	eachPlacement(t, func(t *testing.T, p Placement, whole bool) {
		r, err := encVerifier().Verify([]byte(kcConfirmed(t, p, whole, h.cert)))
		if err != nil {
			t.Fatal(err)
		}
		if m := r.Model(); m.NameID.Value != "alice" || r.Sealed() != nil {
			t.Fatalf("model %+v, sealed %v", m, r.Sealed())
		}
		ops := []sandbox.Op{{Object: "assertion", Method: "setNameID", Args: []any{"crm-alice", ""}}}
		if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
			t.Fatal(err)
		}
		r.EncryptTo = &Encryption{Certificate: sp.cert}
		out, err := signer().Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		// An SP with a certificate gets the whole assertion encrypted
		// too; inside, both identifiers are sealed.
		plain := plainOf(t, out)
		if strings.Contains(plain, confirmer) || strings.Contains(plain, "crm-alice") || strings.Count(plain, "EncryptedID>") != 4 {
			t.Errorf("not two EncryptedIDs, nothing in clear:\n%s", plain)
		}
		a := acceptedByEncSP(t, out)
		if a.Subject.NameID == nil || a.Subject.NameID.Value != "crm-alice" {
			t.Errorf("the SP read the Subject's NameID %+v", a.Subject.NameID)
		}
		if sc := a.Subject.SubjectConfirmations; len(sc) != 1 || sc[0].NameID == nil || sc[0].NameID.Value != confirmer ||
			sc[0].NameID.Format != "urn:oasis:names:tc:SAML:2.0:nameid-format:entity" {
			t.Errorf("the SP read the SubjectConfirmation %+v", sc)
		}
	})

	// Only the SubjectConfirmation's identifier encrypted, no hook: the SP
	// reads it, and the Subject's NameID as it came.
	x := withConfirmer(keycloakResponse(keycloakAssertion("alice", 0)))
	x = signParts(t, sealPart(t, x, confirmerPath, "EncryptedID", h.cert, keycloakEncryption(), nil), SignedAssertion, false)
	r, err := encVerifier().Verify([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer().Sign(r); err == nil || !strings.Contains(err.Error(), "came encrypted") {
		t.Fatalf("Sign without a certificate: %v", err)
	}
	r.EncryptTo = &Encryption{Certificate: sp.cert}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if a := acceptedByEncSP(t, out); a.Subject.NameID.Value != "alice" || a.Subject.SubjectConfirmations[0].NameID == nil ||
		a.Subject.SubjectConfirmations[0].NameID.Value != confirmer {
		t.Errorf("the SP read %+v, %+v", a.Subject.NameID, a.Subject.SubjectConfirmations)
	}
}

// TestInterceptorSubjectConfirmationID: through the interceptor, a hook
// sees and sets the Subject's NameID only, and the SP reads the
// SubjectConfirmation's as the IdP wrote it; for an SP without an
// encryption_certificate the response is refused, never sent in clear.
func TestInterceptorSubjectConfirmationID(t *testing.T) {
	h, _ := encKeys()
	const hook = `exports.onBeforeSamlAssertion = async (event, api) => {
  if (event.saml.name_id.value !== "alice") { api.deny("saw " + JSON.stringify(event.saml.name_id)); return; }
  api.assertion.setNameID("crm-alice");
};`
	up := kcConfirmed(t, SignedResponse, true, h.cert)
	hn := newHarness(t, hook, withEncryption)
	hn.page = serve("text/html", postPage(up, "rs"))
	w := hn.do(t, "POST", "/x")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	msg, _ := sentMessage(t, w.Body.Bytes())
	a := acceptedByEncSP(t, msg)
	if a.Subject.NameID.Value != "crm-alice" || a.Subject.SubjectConfirmations[0].NameID == nil || a.Subject.SubjectConfirmations[0].NameID.Value != confirmer {
		t.Errorf("the SP read %+v, %+v", a.Subject.NameID, a.Subject.SubjectConfirmations)
	}
	hn = newHarness(t, "", func(c *Config) { c.Decryption = testDecryption{} })
	x := withConfirmer(keycloakResponse(keycloakAssertion("alice", 0)))
	hn.page = serve("text/html", postPage(signParts(t, sealPart(t, x, confirmerPath, "EncryptedID", h.cert, keycloakEncryption(), nil), SignedAssertion, false), ""))
	if w := hn.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("for an SP without a certificate: %d, want 502", w.Code)
	}
}

// TestEncryptedSubjectConfirmationIDSealed: a SubjectConfirmation's
// EncryptedID idphooks cannot open goes as it came and is named apart
// from the Subject's in what the log says; one holding a BaseID stays
// sealed, as the Subject's does.
func TestEncryptedSubjectConfirmationIDSealed(t *testing.T) {
	h, sp := encKeys()
	for _, tc := range []struct {
		name   string
		v      *Verifier
		reason string
	}{
		{"decryption off", verifier(), "decryption is not configured"},
		{"to the SP's certificate", encVerifier(), "idphooks holds no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := kcConfirmed(t, SignedAssertion, false, sp.cert)
			r, err := tc.v.Verify([]byte(x))
			if err != nil {
				t.Fatal(err)
			}
			s := r.Sealed()
			if len(s) != 2 || s[0].Part != "NameID" || s[1].Part != "SubjectConfirmation NameID" || !strings.Contains(s[1].Reason, tc.reason) {
				t.Errorf("sealed %+v", s)
			}
			out, err := signer().Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, cv := range regexpAll(x, `<xenc:CipherValue>[^<]*</xenc:CipherValue>`) {
				if !strings.Contains(string(out), cv) {
					t.Errorf("a ciphertext changed")
				}
			}
			if a := acceptedByEncSP(t, out); a.Subject.SubjectConfirmations[0].NameID == nil || a.Subject.SubjectConfirmations[0].NameID.Value != confirmer {
				t.Errorf("the SP read %+v", a.Subject.SubjectConfirmations)
			}
		})
	}
	x := withConfirmer(keycloakResponse(keycloakAssertion("alice", 0)))
	x = sealAt(t, x, confirmerPath, "EncryptedID", `<saml:BaseID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="x:y"/>`)
	r, err := encVerifier().Verify([]byte(signParts(t, x, SignedAssertion, false)))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Sealed(); len(s) != 1 || s[0].Part != "SubjectConfirmation NameID" || !strings.Contains(s[0].Reason, "BaseID") || r.parts.pending() {
		t.Errorf("sealed %+v", s)
	}
	_ = h
}

// TestEncryptedSubjectConfirmationIDRefused: a SubjectConfirmation's
// EncryptedID is held to the rules of the Subject's: one identifier at
// most, the GCM tag checked, a NameID inside.
func TestEncryptedSubjectConfirmationIDRefused(t *testing.T) {
	h, _ := encKeys()
	base := withConfirmer(keycloakResponse(keycloakAssertion("alice", 0)))
	const ns = `xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`
	sealed := func(f func([]byte) []byte) string {
		return sealPart(t, base, confirmerPath, "EncryptedID", h.cert, keycloakEncryption(), f)
	}
	cases := map[string]struct {
		xml  string
		want error
	}{
		"a NameID beside the EncryptedID": {strings.Replace(sealed(nil), "<saml:SubjectConfirmationData ", `<saml:NameID>admin</saml:NameID><saml:SubjectConfirmationData `, 1), ErrStructure},
		"a BaseID beside the NameID":      {strings.Replace(base, "<saml:SubjectConfirmationData ", `<saml:BaseID/><saml:SubjectConfirmationData `, 1), ErrStructure},
		"GCM tag flipped":                 {sealed(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrDecrypt},
		"GCM tag cut off":                 {sealed(func(b []byte) []byte { return b[:len(b)-16] }), ErrDecrypt},
		"an Attribute inside":             {sealAt(t, base, confirmerPath, "EncryptedID", `<saml:Attribute `+ns+` Name="x"/>`), ErrDecrypt},
		"an assertion inside":             {sealAt(t, base, confirmerPath, "EncryptedID", `<saml:NameID `+ns+`>x<saml:Assertion ID="inner"/></saml:NameID>`), ErrWrapping},
		"a comment splitting it":          {sealAt(t, base, confirmerPath, "EncryptedID", `<saml:NameID `+ns+`>https://proxy<!---->.evil.test</saml:NameID>`), ErrWrapping},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := encVerifier().Verify([]byte(signParts(t, c.xml, SignedAssertion, false)))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
}
