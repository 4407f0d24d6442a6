package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// testDecryption is idphooks' encryption key from encrypt_test.go as
// Decryption.
type testDecryption struct{}

func (testDecryption) SAMLDecryptionKeys() []*rsa.PrivateKey {
	h, _ := encKeys()
	return []*rsa.PrivateKey{otherEnc.key, h.key}
}

func (testDecryption) SAMLEncryptionCertificates() []*x509.Certificate {
	h, _ := encKeys()
	return []*x509.Certificate{h.cert}
}

const tierHook = `exports.onBeforeSamlAssertion = async (event, api) => { api.assertion.setAttribute("tier", ["gold"]); };`

// withEncryption decrypts with idphooks' key and re-encrypts to the test
// SP's.
func withEncryption(c *Config) {
	_, sp := encKeys()
	c.Decryption = testDecryption{}
	c.SPs = map[string]SP{testSP: {EncryptionCertificate: sp.cert}}
}

// TestInterceptorDecryptsAndReencrypts: an assertion the IdP encrypted to
// idphooks is decrypted, hooked, re-signed where the IdP signed and
// encrypted to the SP, whose crewjam SP (trusting only idphooks) reads
// the hook's edit; a clear one for that SP goes encrypted too.
func TestInterceptorDecryptsAndReencrypts(t *testing.T) {
	h := newHarness(t, tierHook, withEncryption)
	for _, up := range []string{kcEncrypted(t, SignedAssertion), kcEncrypted(t, SignedResponse), kcSigned(t, SignedAssertion)} {
		h.page = serve("text/html", postPage(up, "rs"))
		w := h.do(t, "POST", "/realms/acme/login-actions/authenticate")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		msg, form := sentMessage(t, w.Body.Bytes())
		if d, k := encryptionOf(t, msg); d != AES256GCM || k != RSAOAEPMGF1P || form.RelayState.Value != "rs" {
			t.Errorf("sent with %s, %s, RelayState %q", d, k, form.RelayState.Value)
		}
		if got := spValues(acceptedByEncSP(t, msg), "tier"); !slices.Equal(got, []string{"gold"}) {
			t.Errorf("tier %q", got)
		}
	}
	// What the SP's entry lists.
	_, sp := encKeys()
	h = newHarness(t, "", func(c *Config) {
		withEncryption(c)
		c.SPs[testSP] = SP{EncryptionCertificate: sp.cert, EncryptionAlgorithms: []string{AES128CBC, RSAOAEP}}
	})
	h.page = serve("text/html", postPage(kcEncrypted(t, SignedAssertion), ""))
	msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
	if d, k := encryptionOf(t, msg); d != AES128CBC || k != RSAOAEP {
		t.Errorf("sent with %s, %s", d, k)
	}
	acceptedByEncSP(t, msg)
}

// TestInterceptorRefusesUndecryptable: with decryption on, what does not
// decrypt (tampered, or encrypted to another certificate) and an
// assertion encrypted for an SP idphooks has no certificate of are
// refused; the page is the same whatever failed.
func TestInterceptorRefusesUndecryptable(t *testing.T) {
	h := newHarness(t, "", withEncryption)
	sa := kcEncrypted(t, SignedAssertion)
	var pages []string
	for _, up := range []string{
		mutateCipher(t, sa, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		mutateCipher(t, sa, func(b []byte) []byte { return b[:len(b)-16] }),
		encryptWith(t, stripSig(kcSigned(t, SignedAssertion)), otherEnc.cert, keycloakEncryption()),
		mutateKey(t, sa),
	} {
		h.page = serve("text/html", postPage(up, ""))
		w := h.do(t, "POST", "/x")
		if w.Code != http.StatusBadGateway {
			t.Fatalf("%d, want 502", w.Code)
		}
		pages = append(pages, w.Body.String())
	}
	for _, p := range pages[1:] {
		if p != pages[0] {
			t.Errorf("pages differ with the cause:\n%s\n%s", pages[0], p)
		}
	}
	h = newHarness(t, "", func(c *Config) { c.Decryption = testDecryption{} })
	h.page = serve("text/html", postPage(sa, ""))
	if w := h.do(t, "POST", "/x"); w.Code != http.StatusBadGateway {
		t.Errorf("encrypted for an SP without a certificate: %d, want 502", w.Code)
	}
}

// TestInterceptorPassesEncryptedWithoutDecryption: without decryption
// the page goes as it came, and the log says why, once a minute per
// destination.
func TestInterceptorPassesEncryptedWithoutDecryption(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	now := time.Now()
	h := newHarness(t, tierHook, func(c *Config) {
		c.Logger = zap.New(core)
		c.Now = func() time.Time { return now }
	})
	page := postPage(kcEncrypted(t, SignedAssertion), "rs")
	h.page = serve("text/html", page)
	for range 3 {
		if w := h.do(t, "POST", "/x"); w.Code != 200 || w.Body.String() != page {
			t.Fatalf("%d: the page changed", w.Code)
		}
	}
	now = now.Add(time.Minute)
	h.do(t, "POST", "/x")
	got := logs.FilterMessageSnippet("decryption is not configured").All()
	if len(got) != 2 || got[0].Level != zapcore.WarnLevel || got[0].ContextMap()["destination"] != testACS {
		t.Fatalf("log lines %+v, want two warnings naming the destination", got)
	}
}

// TestInterceptorPublishesEncryptionKeys: with decryption, the served
// metadata's encryption keys are idphooks'.
func TestInterceptorPublishesEncryptionKeys(t *testing.T) {
	h := newHarness(t, "", func(c *Config) {
		c.Decryption = testDecryption{}
		c.MetadataPaths = []string{"/md"}
	})
	h.page = func(w http.ResponseWriter, r *http.Request) { t.Errorf("metadata request reached the IdP") }
	md, err := ParseIdPMetadata(h.do(t, "GET", "/md").Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	he, _ := encKeys()
	_, hk := keys()
	if len(md.Encryption) != 1 || !md.Encryption[0].Equal(he.cert) || len(md.Signing) != 1 || !md.Signing[0].Equal(hk.cert) {
		t.Errorf("encryption %d, signing %d certificates, want idphooks' one each", len(md.Encryption), len(md.Signing))
	}
}

func TestInterceptorChecksSPEncryption(t *testing.T) {
	_, sp := encKeys()
	idp, _ := NewIdP("http://idp.test/md", 0)
	for name, s := range map[string]SP{
		"rsa-1_5":                    {EncryptionCertificate: sp.cert, EncryptionAlgorithms: []string{RSA15}},
		"algorithms, no certificate": {EncryptionAlgorithms: []string{AES128GCM}},
	} {
		_, err := New(Config{IdP: idp, Keys: testKeys{}, Dispatcher: newHarness(t, "", nil).ic.cfg.Dispatcher, SPs: map[string]SP{testSP: s}})
		if err == nil || name == "rsa-1_5" && !errors.Is(err, ErrAlgorithm) || !strings.Contains(err.Error(), testSP) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// rotatedDecryption holds idphooks' key as a retired one: the current
// certificate is another.
type rotatedDecryption struct{ testDecryption }

func (rotatedDecryption) SAMLEncryptionCertificates() []*x509.Certificate {
	h, _ := encKeys()
	return []*x509.Certificate{otherEnc.cert, h.cert}
}

// TestInterceptorWarnsOfOldEncryptionKey: an IdP encrypting to a key that
// is not the current one still decrypts, and the log says to update it.
func TestInterceptorWarnsOfOldEncryptionKey(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	for _, d := range []Decryption{testDecryption{}, rotatedDecryption{}} {
		h := newHarness(t, "", func(c *Config) {
			withEncryption(c)
			c.Decryption = d
			c.Logger = zap.New(core)
		})
		h.page = serve("text/html", postPage(kcEncrypted(t, SignedAssertion), ""))
		if w := h.do(t, "POST", "/x"); w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	got := logs.FilterMessageSnippet("not the current one").All()
	if len(got) != 1 || got[0].ContextMap()["sp"] != testSP {
		t.Fatalf("log lines %+v, want one warning, for the rotated key", got)
	}
}
