package saml

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

var (
	encKeysOnce        sync.Once
	hooksEnc, spEnc    keyPair // idphooks' encryption key; the SP's
	otherEnc, thirdEnc keyPair // keys idphooks does not hold
)

func encKeys() (hooks, sp keyPair) {
	encKeysOnce.Do(func() {
		hooksEnc, spEnc = newKeyPair("idphooks encryption"), newKeyPair("sp encryption")
		otherEnc, thirdEnc = newKeyPair("someone else"), newKeyPair("a third party")
	})
	return hooksEnc, spEnc
}

// encVerifier verifies the test IdP's signatures and decrypts with
// idphooks' encryption key.
func encVerifier() *Verifier {
	h, _ := encKeys()
	v := verifier()
	v.DecryptionKeys = []*rsa.PrivateKey{h.key}
	return v
}

// keycloakEncryption is how Keycloak 26.7 encrypts (testdata/encrypted):
// aes256-gcm, the key wrapped with xmlenc11 rsa-oaep, SHA-256 digest and
// MGF1-SHA-256.
func keycloakEncryption() xmlenc.RSA {
	e := xmlenc.OAEP_SHA256()
	e.BlockCipher = xmlenc.AES256GCM
	return e
}

// encryptWith replaces the Assertion of a response with an
// EncryptedAssertion made by e for to, in the shape Keycloak 26.7 writes
// (testdata/encrypted): EncryptedData of type Element, the EncryptedKey
// inside its ds:KeyInfo with no KeyInfo of its own, no Id attributes,
// xmlns:xenc declared once.
func encryptWith(t testing.TB, xml string, to *x509.Certificate, e xmlenc.RSA) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	a := child(root, NSAssertion, "Assertion")
	det := detach(t, a)
	pd := etree.NewDocument()
	pd.SetRoot(det)
	plain, err := pd.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	ed, err := e.Encrypt(to, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	keycloakShape(ed)
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.AddChild(ed)
	i := a.Index()
	root.RemoveChildAt(i)
	root.InsertChildAt(i, ea)
	out, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// keycloakShape trims crewjam's EncryptedData to Keycloak's.
func keycloakShape(ed *etree.Element) {
	ed.RemoveAttr("Id")
	ed.CreateAttr("Type", typeElement)
	var trim func(el *etree.Element)
	trim = func(el *etree.Element) {
		if el != ed {
			el.RemoveAttr("xmlns:xenc")
		}
		for _, c := range el.ChildElements() {
			trim(c)
		}
	}
	trim(ed)
	if ek := ed.FindElement("./KeyInfo/EncryptedKey"); ek != nil {
		ek.RemoveAttr("Id")
		if ki := ek.FindElement("./KeyInfo"); ki != nil {
			ek.RemoveChild(ki)
		}
	}
}

// kcEncrypted is a Keycloak-shaped response signed where p says (the
// assertion before it is encrypted, the Response after) with its
// assertion encrypted to idphooks as Keycloak does.
func kcEncrypted(t testing.TB, p Placement) string {
	return kcEncryptedWith(t, p, keycloakEncryption())
}

func kcEncryptedWith(t testing.TB, p Placement, e xmlenc.RSA) string {
	t.Helper()
	h, _ := encKeys()
	x := keycloakResponse(keycloakAssertion("alice", 0))
	if p&SignedAssertion != 0 {
		x = idpSign(t, x, "dsig", "ID_a1b2c3")
	}
	x = encryptWith(t, x, h.cert, e)
	if p&SignedResponse != 0 {
		x = idpSign(t, x, "dsig", "ID_r9f8e7")
	}
	return x
}

// mutateCipher changes the EncryptedData's own CipherValue (not the
// key's) with f.
func mutateCipher(t testing.TB, xml string, f func([]byte) []byte) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	cv := doc.FindElement("//EncryptedData/CipherData/CipherValue")
	b, err := base64.StdEncoding.DecodeString(cv.Text())
	if err != nil {
		t.Fatal(err)
	}
	cv.SetText(base64.StdEncoding.EncodeToString(f(b)))
	out, _ := doc.WriteToString()
	return out
}

// encSP is crewjam's SP trusting only idphooks' signing certificate and
// decrypting with the SP's key.
func encSP(t testing.TB) *crewjam.ServiceProvider {
	_, sp := encKeys()
	s := testSPFor(t)
	s.Key, s.Certificate = sp.key, sp.cert
	return s
}

func acceptedByEncSP(t testing.TB, out []byte) *crewjam.Assertion {
	t.Helper()
	acs, _ := url.Parse(testACS)
	a, err := encSP(t).ParseXMLResponse(out, []string{testReqID}, *acs)
	if err != nil {
		var ire *crewjam.InvalidResponseError
		if errors.As(err, &ire) {
			t.Fatalf("SP refused: %v\n%s", ire.PrivateErr, out)
		}
		t.Fatal(err)
	}
	return a
}

// encryptionOf reads the data and key transport algorithms of what idphooks
// sent.
func encryptionOf(t testing.TB, out []byte) (data, keyTransport string) {
	t.Helper()
	doc, err := Parse(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if doc.FindElement("//Assertion") != nil || doc.FindElement("//EncryptedAssertion") == nil {
		t.Fatalf("not one encrypted assertion:\n%s", out)
	}
	return doc.FindElement("//EncryptedData/EncryptionMethod").SelectAttrValue("Algorithm", ""),
		doc.FindElement("//EncryptedKey/EncryptionMethod").SelectAttrValue("Algorithm", "")
}

func readPEMKey(t testing.TB, path string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// capturedVerifier trusts the real Keycloak realm of testdata/encrypted
// and decrypts with the key its SP client encrypted to.
func capturedVerifier(t testing.TB) *Verifier {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "encrypted", "keycloak-26.7-descriptor.xml"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := ParseIdPMetadata(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &Verifier{Certificates: md.Signing, DecryptionKeys: []*rsa.PrivateKey{readPEMKey(t, filepath.Join("testdata", "encrypted", "sp-key.pem"))}}
}

func captured(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "encrypted", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecryptRealKeycloak: what a real Keycloak 26.7 sent (aes256-gcm,
// xmlenc11 rsa-oaep with SHA-256 and MGF1-SHA-256, the assertion or the
// Response signed) decrypts and verifies with the key it was encrypted
// to; with no key it is ErrEncrypted, with only another key ErrDecrypt,
// and among several keys the right one is found. Re-signed and encrypted
// to another SP, it reads back with that SP's key and idphooks'
// certificate only.
func TestDecryptRealKeycloak(t *testing.T) {
	hooks, sp := encKeys()
	for _, tc := range []struct {
		file string
		want Placement
	}{
		{"keycloak-26.7-assertion-signed.xml", SignedAssertion},
		{"keycloak-26.7-response-signed.xml", SignedResponse},
	} {
		t.Run(tc.want.String(), func(t *testing.T) {
			raw := captured(t, tc.file)
			v := capturedVerifier(t)
			right := v.DecryptionKeys[0]
			r, err := v.Verify(raw)
			if err != nil {
				t.Fatal(err)
			}
			m := r.Model()
			if !r.Encrypted || r.Signed != tc.want || m.NameID.Value != "alice@example.com" ||
				!strings.HasSuffix(m.Issuer, "/realms/acme") || len(m.Attributes["Role"].Values) == 0 || m.SessionIndex == "" {
				t.Fatalf("encrypted %v, signed %v, model %+v", r.Encrypted, r.Signed, m)
			}

			v.DecryptionKeys = nil
			if _, err := v.Verify(raw); !errors.Is(err, ErrEncrypted) {
				t.Errorf("without keys: %v, want ErrEncrypted", err)
			}
			v.DecryptionKeys = []*rsa.PrivateKey{otherEnc.key}
			if _, err := v.Verify(raw); !errors.Is(err, ErrDecrypt) {
				t.Errorf("with another key: %v, want ErrDecrypt", err)
			}
			v.DecryptionKeys = []*rsa.PrivateKey{otherEnc.key, thirdEnc.key, right}
			if r, err = v.Verify(raw); err != nil {
				t.Fatalf("the third of three keys: %v", err)
			}

			ops := []sandbox.Op{{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}}}
			if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
				t.Fatal(err)
			}
			r.EncryptTo = &Encryption{Certificate: sp.cert}
			out, err := signer().Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			if d, k := encryptionOf(t, out); d != AES256GCM || k != RSAOAEPMGF1P {
				t.Errorf("encrypted with %s and %s, want the defaults", d, k)
			}
			// The assertion goes as Keycloak made it but for the edit and
			// the signature: its unused default namespace declaration,
			// which canonicalization would drop, is still there.
			od, _ := Parse(out, 0)
			plain, err := xmlenc.Decrypt(sp.key, od.FindElement("//EncryptedData"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(plain), `xmlns="urn:oasis:names:tc:SAML:2.0:assertion"`) {
				t.Errorf("the decrypted assertion is not Keycloak's as it came:\n%.300s", plain)
			}
			_, hk := keys()
			back := &Verifier{Certificates: []*x509.Certificate{hk.cert}, DecryptionKeys: []*rsa.PrivateKey{sp.key}}
			again, err := back.Verify(out)
			if err != nil {
				t.Fatalf("what the SP gets: %v", err)
			}
			if got := again.Model(); got.Attributes["tier"].Values[0] != "gold" || got.NameID != m.NameID || again.Signed != tc.want {
				t.Errorf("what the SP reads: %+v, signed %v", got, again.Signed)
			}
			back.DecryptionKeys = []*rsa.PrivateKey{hooks.key, right}
			if _, err := back.Verify(out); !errors.Is(err, ErrDecrypt) {
				t.Errorf("idphooks' and the IdP's keys decrypt what went to the SP: %v", err)
			}
			if _, err := capturedVerifier(t).Verify(out); err == nil {
				t.Error("Keycloak's certificate verifies what idphooks signed")
			}
		})
	}
}

// TestEncryptedRoundTripThroughSP: for each signing placement, a
// Keycloak-shaped encrypted response is decrypted, edited, re-signed and
// encrypted to the SP, and crewjam's SP, trusting only idphooks, decrypts
// and accepts it with the edits; the algorithms are the defaults, or what
// the SP's entry lists.
func TestEncryptedRoundTripThroughSP(t *testing.T) {
	_, sp := encKeys()
	for _, p := range []Placement{SignedAssertion, SignedResponse, SignedResponse | SignedAssertion} {
		for _, algs := range [][]string{nil, {RSAOAEP, AES128GCM}, {AES256CBC}} {
			name := p.String() + "/" + strings.Join(algs, "+")
			t.Run(name, func(t *testing.T) {
				r, err := encVerifier().Verify([]byte(kcEncrypted(t, p)))
				if err != nil {
					t.Fatal(err)
				}
				if !r.Encrypted || r.Signed != p {
					t.Fatalf("encrypted %v, signed %v", r.Encrypted, r.Signed)
				}
				ops := []sandbox.Op{
					{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}},
					{Object: "assertion", Method: "setNameID", Args: []any{"crm-alice", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}},
				}
				if _, err := r.Apply(events.NewAssertionPolicy(nil), ops); err != nil {
					t.Fatal(err)
				}
				r.EncryptTo = &Encryption{Certificate: sp.cert, Algorithms: algs}
				out, err := signer().Sign(r)
				if err != nil {
					t.Fatal(err)
				}
				data, kt := encryptionOf(t, out)
				wantData, wantKT := AES256GCM, RSAOAEPMGF1P
				for _, a := range algs {
					if strings.Contains(a, "rsa") {
						wantKT = a
					} else {
						wantData = a
					}
				}
				if data != wantData || kt != wantKT {
					t.Errorf("encrypted with %s and %s, want %s and %s", data, kt, wantData, wantKT)
				}
				a := acceptedByEncSP(t, out)
				if a.Subject.NameID.Value != "crm-alice" || !slices.Equal(spValues(a, "tier"), []string{"gold"}) {
					t.Errorf("the SP read NameID %q, tier %q", a.Subject.NameID.Value, spValues(a, "tier"))
				}
				// r stays readable after Sign: after_login reads it.
				if m := r.Model(); m.NameID.Value != "crm-alice" {
					t.Errorf("model after Sign: %+v", m)
				}
				if sigs := strings.Count(string(out), "SignatureValue>") / 2; p&SignedResponse != 0 && sigs != 1 || p == SignedAssertion && sigs != 0 {
					t.Errorf("%d signatures outside the encryption, want the Response's only", sigs)
				}
			})
		}
	}
	// A clear response for an SP with a certificate goes encrypted too.
	r, err := encVerifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	r.EncryptTo = &Encryption{Certificate: sp.cert}
	out, err := signer().Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	encryptionOf(t, out)
	acceptedByEncSP(t, out)
}

// TestEncryptedShapes: the EncryptedKey beside the EncryptedData, one for
// another recipient beside ours, and AES-CBC data all decrypt.
func TestEncryptedShapes(t *testing.T) {
	h, _ := encKeys()
	sa := kcEncrypted(t, SignedAssertion)
	sibling := func(x string) string {
		doc := etree.NewDocument()
		_ = doc.ReadFromString(x)
		ki := doc.FindElement("//EncryptedData/KeyInfo")
		ek := ki.FindElement("./EncryptedKey")
		ki.RemoveChild(ek)
		ki.CreateElement("ds:RetrievalMethod").CreateAttr("Type", NSXMLEnc+"EncryptedKey")
		ek.CreateAttr("xmlns:xenc", NSXMLEnc)
		doc.FindElement("//EncryptedAssertion").AddChild(ek)
		out, _ := doc.WriteToString()
		return out
	}
	// A second EncryptedKey, to a certificate idphooks does not hold,
	// first: it is skipped without an RSA operation.
	twoRecipients := func(x string) string {
		doc := etree.NewDocument()
		_ = doc.ReadFromString(x)
		ki := doc.FindElement("//EncryptedData/KeyInfo")
		other := ki.FindElement("./EncryptedKey").Copy()
		cv := other.FindElement("./CipherData/CipherValue")
		cv.SetText(base64.StdEncoding.EncodeToString(make([]byte, 256)))
		oki := etree.NewElement("ds:KeyInfo")
		oki.CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(otherEnc.cert.Raw))
		other.InsertChildAt(1, oki)
		ki.InsertChildAt(0, other)
		out, _ := doc.WriteToString()
		return out
	}
	cbc := xmlenc.OAEP()
	cbc.DigestMethod = xmlenc.SHA1
	cbc.BlockCipher = xmlenc.AES128CBC
	for name, x := range map[string]string{
		"key beside the data":       sibling(sa),
		"two recipients":            twoRecipients(sa),
		"aes128-cbc, mgf1p sha1":    kcEncryptedWith(t, SignedAssertion, cbc),
		"ours named by its cert":    strings.Replace(sa, "<xenc:CipherData><xenc:CipherValue>", "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>"+base64.StdEncoding.EncodeToString(h.cert.Raw)+"</ds:X509Certificate></ds:X509Data></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>", 1),
		"response signed, keycloak": kcEncrypted(t, SignedResponse),
	} {
		t.Run(name, func(t *testing.T) {
			r, err := encVerifier().Verify([]byte(x))
			if err != nil {
				t.Fatalf("%v\n%s", err, x)
			}
			if r.Model().NameID.Value != "alice" {
				t.Fatalf("model %+v", r.Model())
			}
		})
	}
}

// TestEncryptedRefused: algorithms off the allow-list are refused before
// anything is decrypted; tampered ciphertexts (the xmlseclibs
// CVE-2026-32313 shapes: a GCM tag flipped, cut short or cut off, which
// xmlseclibs did not check) and anything else that does not decrypt are
// one error, ErrDecrypt; an assertion anyone could have encrypted to
// idphooks' public certificate still needs the IdP's signature.
func TestEncryptedRefused(t *testing.T) {
	h, _ := encKeys()
	sa := kcEncrypted(t, SignedAssertion)
	with := func(e xmlenc.RSA, bc xmlenc.BlockCipher) string {
		e.BlockCipher = bc
		return kcEncryptedWith(t, SignedAssertion, e)
	}
	ripemd := xmlenc.OAEP()
	ripemd.DigestMethod = xmlenc.RIPEMD160
	flip := func(at int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = slices.Clone(b)
			b[(len(b)+at)%len(b)] ^= 0x01
			return b
		}
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:len(b)-n] } }
	// An assertion of the attacker's, encrypted to idphooks' (public)
	// certificate: unsigned, or signed by another key.
	forged := encryptWith(t, keycloakResponse(keycloakAssertion("admin", 0)), h.cert, keycloakEncryption())
	foreign := func() string {
		x := keycloakResponse(keycloakAssertion("admin", 0))
		doc := etree.NewDocument()
		_ = doc.ReadFromString(x)
		a := doc.FindElement("//[@ID='ID_a1b2c3']")
		a.InsertChildAt(1, signFor(t, a, otherEnc, "dsig"))
		x, _ = doc.WriteToString()
		return encryptWith(t, x, h.cert, keycloakEncryption())
	}()

	cases := map[string]struct {
		xml  string
		want error
	}{
		"rsa-1_5 key transport":  {with(xmlenc.PKCS1v15(), xmlenc.AES256GCM), ErrAlgorithm},
		"tripledes data":         {with(keycloakEncryption(), xmlenc.TripleDES), ErrAlgorithm},
		"ripemd160 OAEP digest":  {with(ripemd, xmlenc.AES256GCM), ErrAlgorithm},
		"MGF with mgf1p":         {strings.Replace(with(xmlenc.OAEP(), xmlenc.AES256GCM), "</xenc:EncryptionMethod><xenc:CipherData>", `<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="http://www.w3.org/2009/xmlenc11#mgf1sha256"/></xenc:EncryptionMethod><xenc:CipherData>`, 1), ErrStructure},
		"mgf1sha224":             {strings.Replace(sa, "mgf1sha256", "mgf1sha224", 1), ErrAlgorithm},
		"unknown data algorithm": {strings.Replace(sa, "xmlenc11#aes256-gcm", "xmlenc11#aes256-ctr", 1), ErrAlgorithm},
		"content type":           {strings.Replace(sa, "xmlenc#Element", "xmlenc#Content", 1), ErrStructure},
		"cipher reference":       {strings.Replace(sa, "</xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData>", `</xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherReference URI="http://attacker.test/x"/>`, 1), ErrStructure},
		"no key":                 {regexpReplace(sa, `(?s)<ds:KeyInfo.*?</ds:KeyInfo>`, ""), ErrStructure},
		"four keys":              {strings.Replace(sa, "</ds:KeyInfo>", strings.Repeat(regexpFind(sa, `(?s)<xenc:EncryptedKey>.*?</xenc:EncryptedKey>`), 3)+"</ds:KeyInfo>", 1), ErrStructure},

		"GCM tag flipped":                 {mutateCipher(t, sa, flip(-1)), ErrDecrypt},
		"GCM ciphertext flipped":          {mutateCipher(t, sa, flip(20)), ErrDecrypt},
		"GCM nonce flipped":               {mutateCipher(t, sa, flip(0)), ErrDecrypt},
		"GCM tag cut to 12 bytes":         {mutateCipher(t, sa, cut(4)), ErrDecrypt},
		"GCM tag cut to 1 byte":           {mutateCipher(t, sa, cut(15)), ErrDecrypt},
		"GCM tag cut off":                 {mutateCipher(t, sa, cut(16)), ErrDecrypt},
		"GCM under nonce and tag":         {mutateCipher(t, sa, func([]byte) []byte { return make([]byte, 20) }), ErrDecrypt},
		"CBC padding broken":              {mutateCipher(t, with(keycloakEncryption(), xmlenc.AES256CBC), flip(-1)), ErrDecrypt},
		"encrypted to someone else":       {encryptWith(t, stripSig(kcSigned(t, SignedAssertion)), otherEnc.cert, keycloakEncryption()), ErrDecrypt},
		"key flipped":                     {mutateKey(t, sa), ErrDecrypt},
		"unsigned, encrypted to us":       {forged, ErrUnsigned},
		"signed by another, to us":        {foreign, ErrSignature},
		"plaintext not an assertion":      {encryptPlain(t, `<saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="x"/>`), ErrDecrypt},
		"plaintext not XML":               {encryptPlain(t, "not xml"), ErrDecrypt},
		"plaintext DOCTYPE":               {encryptPlain(t, `<!DOCTYPE a [<!ENTITY x "y">]><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="z"/>`), ErrDoctype},
		"plaintext too deep":              {encryptPlain(t, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="z">`+strings.Repeat("<a>", DefaultMaxDepth)+strings.Repeat("</a>", DefaultMaxDepth)+`</saml:Assertion>`), ErrTooDeep},
		"plaintext too many elements":     {encryptPlain(t, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="z">`+strings.Repeat("<a/>", MaxElements)+`</saml:Assertion>`), ErrTooLarge},
		"plaintext without its namespace": {encryptPlain(t, `<saml:Assertion ID="z"/>`), ErrDecrypt},
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

// encryptPlain is a Keycloak-shaped unsigned envelope around plain,
// encrypted to idphooks as Keycloak does.
func encryptPlain(t testing.TB, plain string) string {
	t.Helper()
	h, _ := encKeys()
	ed, err := keycloakEncryption().Encrypt(h.cert, []byte(plain), nil)
	if err != nil {
		t.Fatal(err)
	}
	keycloakShape(ed)
	doc := etree.NewDocument()
	_ = doc.ReadFromString(keycloakResponse(`<saml:EncryptedAssertion/>`))
	doc.FindElement("//EncryptedAssertion").AddChild(ed)
	out, _ := doc.WriteToString()
	return out
}

// mutateKey flips a bit of the wrapped content key.
func mutateKey(t testing.TB, xml string) string {
	t.Helper()
	doc := etree.NewDocument()
	_ = doc.ReadFromString(xml)
	cv := doc.FindElement("//EncryptedKey/CipherData/CipherValue")
	b, _ := base64.StdEncoding.DecodeString(cv.Text())
	b[len(b)/2] ^= 0x80
	cv.SetText(base64.StdEncoding.EncodeToString(b))
	out, _ := doc.WriteToString()
	return out
}

// TestEncryptedWrapping: the wrapping shapes, with encryption. The
// envelope and the decrypted assertion are one document for the rules:
// one assertion, unique IDs, signatures in place, one text run.
func TestEncryptedWrapping(t *testing.T) {
	h, _ := encKeys()
	sr := kcEncrypted(t, SignedResponse)
	sa := kcEncrypted(t, SignedAssertion)
	ea := regexpFind(sr, `(?s)<saml:EncryptedAssertion>.*</saml:EncryptedAssertion>`)
	unsigned := regexpFind(encryptWith(t, keycloakResponse(keycloakAssertion("admin", 0)), h.cert, keycloakEncryption()), `(?s)<saml:EncryptedAssertion>.*</saml:EncryptedAssertion>`)
	respSig := regexpFind(sr, `(?s)<dsig:Signature .*?</dsig:Signature>`)
	signedDup := func() string {
		// Sign the assertion alone under the Response's ID, then encrypt.
		a := strings.Replace(keycloakAssertion("alice", 0), `ID="ID_a1b2c3"`, `ID="ID_r9f8e7"`, 1)
		doc := etree.NewDocument()
		_ = doc.ReadFromString(`<w xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` + a + `</w>`)
		el := doc.Root().ChildElements()[0]
		idp, _ := keys()
		el.InsertChildAt(1, signFor(t, el, idp, "dsig"))
		signedA, _ := doc.WriteToString()
		signedA = strings.TrimSuffix(strings.TrimPrefix(signedA, `<w xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">`), `</w>`)
		return encryptWith(t, keycloakResponse(signedA), h.cert, keycloakEncryption())
	}()
	// An assertion holding a second, unsigned one (in Advice), signed.
	nested := func() string {
		a := keycloakAssertion("alice", 0)
		inner := strings.Replace(strings.Replace(keycloakAssertion("admin", 0), `ID="ID_a1b2c3"`, `ID="ID_inner"`, 1), ` xmlns="urn:oasis:names:tc:SAML:2.0:assertion"`, "", 1)
		a = strings.Replace(a, "<saml:AttributeStatement>", "<saml:Advice>"+inner+"</saml:Advice><saml:AttributeStatement>", 1)
		x := idpSign(t, keycloakResponse(a), "dsig", "ID_a1b2c3")
		return encryptWith(t, x, h.cert, keycloakEncryption())
	}()
	// The assertion's signature referencing the Response.
	otherRef := func() string {
		x := idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3")
		x = strings.Replace(x, `URI="#ID_a1b2c3"`, `URI="#ID_r9f8e7"`, 1)
		return encryptWith(t, x, h.cert, keycloakEncryption())
	}()
	comment := func() string {
		x := idpSign(t, keycloakResponse(keycloakAssertion("alice", 0)), "dsig", "ID_a1b2c3")
		x = strings.Replace(x, ">alice<", ">ali<!---->ce<", 1)
		return encryptWith(t, x, h.cert, keycloakEncryption())
	}()

	cases := map[string]struct {
		xml  string
		want error
	}{
		"signed response, second unsigned encrypted assertion": {strings.Replace(sr, ea, ea+unsigned, 1), ErrWrapping},
		"signed response, an unsigned one before":              {strings.Replace(sr, ea, unsigned+ea, 1), ErrWrapping},
		"signed response, a clear assertion beside":            {strings.Replace(sr, ea, ea+stripSig(reAssertion.FindString(kcSigned(t, SignedAssertion))), 1), ErrWrapping},
		"encrypted assertion swapped under the signature":      {strings.Replace(sr, ea, unsigned, 1), ErrSignature},
		"encrypted assertion in Extensions":                    {strings.Replace(sa, regexpFind(sa, `(?s)<saml:EncryptedAssertion>.*</saml:EncryptedAssertion>`), "<samlp:Extensions>"+regexpFind(sa, `(?s)<saml:EncryptedAssertion>.*</saml:EncryptedAssertion>`)+"</samlp:Extensions>", 1), ErrWrapping},
		"a signature inside the EncryptedAssertion":            {strings.Replace(sr, "<saml:EncryptedAssertion>", "<saml:EncryptedAssertion>"+respSig, 1), ErrWrapping},
		"decrypted assertion with the Response's ID":           {signedDup, ErrWrapping},
		"decrypted assertion holding another":                  {nested, ErrWrapping},
		"decrypted signature over the Response's ID":           {otherRef, ErrWrapping},
		"comment splitting the decrypted NameID":               {comment, ErrWrapping},
		"error status with an encrypted assertion":             {strings.Replace(sa, "status:Success", "status:Responder", 1), ErrStructure},
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

func regexpFind(s, re string) string {
	return regexp.MustCompile(re).FindString(s)
}

func regexpReplace(s, re, with string) string {
	return regexp.MustCompile(re).ReplaceAllString(s, with)
}

// TestEncryptionCheck: what Sign can encrypt with.
func TestEncryptionCheck(t *testing.T) {
	_, sp := encKeys()
	if err := (&Encryption{Certificate: sp.cert, Algorithms: EncryptionAlgorithms()}).Check(); err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*Encryption{
		"no certificate": {},
		"rsa-1_5":        {Certificate: sp.cert, Algorithms: []string{RSA15}},
		"tripledes":      {Certificate: sp.cert, Algorithms: []string{NSXMLEnc + "tripledes-cbc"}},
	} {
		if err := e.Check(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	r, err := encVerifier().Verify([]byte(kcSigned(t, SignedAssertion)))
	if err != nil {
		t.Fatal(err)
	}
	r.EncryptTo = &Encryption{Certificate: sp.cert, Algorithms: []string{RSA15}}
	if _, err := signer().Sign(r); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("Sign with rsa-1_5: %v", err)
	}
}

// benchEncrypted is benchDoc (10 attributes, signed assertion, RSA-2048)
// encrypted to idphooks as Keycloak does.
func benchEncrypted(b *testing.B) string {
	h, _ := encKeys()
	return encryptWith(b, benchDoc(b), h.cert, keycloakEncryption())
}

// BenchmarkEncryptedRoundTrip is BenchmarkResponseRoundTrip with the
// assertion encrypted both ways: decode + verify + decrypt + extract +
// edit + re-sign + encrypt to the SP + base64.
func BenchmarkEncryptedRoundTrip(b *testing.B) {
	_, sp := encKeys()
	benchRoundTrip(b, benchEncrypted(b), encVerifier(), &Encryption{Certificate: sp.cert}, []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}},
		{Object: "assertion", Method: "removeAttribute", Args: []any{"attr0"}},
	})
}

// BenchmarkDecryptAssertion: the decryption alone (one RSA-OAEP private
// key operation, AES-256-GCM, the parse of what comes out).
func BenchmarkDecryptAssertion(b *testing.B) {
	doc, err := Parse([]byte(benchEncrypted(b)), 0)
	if err != nil {
		b.Fatal(err)
	}
	ea, v := doc.FindElement("//EncryptedAssertion"), encVerifier()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.decryptAssertion(ea); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptAssertion: the encryption alone (serialization, a
// content key, AES-256-GCM, one RSA-OAEP public key operation).
func BenchmarkEncryptAssertion(b *testing.B) {
	_, sp := encKeys()
	r, err := verifier().Verify([]byte(benchDoc(b)))
	if err != nil {
		b.Fatal(err)
	}
	e := &Encryption{Certificate: sp.cert}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encryptAssertion(r.assertion, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareOAEPDecrypt: the RSA-2048 OAEP unwrap alone, the floor of
// BenchmarkDecryptAssertion.
func BenchmarkBareOAEPDecrypt(b *testing.B) {
	h, _ := encKeys()
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &h.key.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.key.Decrypt(nil, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}); err != nil {
			b.Fatal(err)
		}
	}
}
