package binding

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/interception"
)

type testKey struct {
	key  crypto.Signer
	cert *x509.Certificate
}

var (
	keysOnce sync.Once
	rsaKey   testKey
	rsaOther testKey
	p256Key  testKey
	p384Key  testKey
)

func newTestKey(t testing.TB, k crypto.Signer) testKey {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{k, c}
}

func keys(t testing.TB) {
	keysOnce.Do(func() {
		r1, _ := rsa.GenerateKey(rand.Reader, 2048)
		r2, _ := rsa.GenerateKey(rand.Reader, 2048)
		e1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		e2, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		rsaKey, rsaOther, p256Key, p384Key = newTestKey(t, r1), newTestKey(t, r2), newTestKey(t, e1), newTestKey(t, e2)
	})
}

const logoutRequest = `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns="urn:oasis:names:tc:SAML:2.0:assertion" Destination="https://sp.example.org/saml/slo" ID="ID_f3b0c442-98fc-4c14-9afb-f4c8996fb924" IssueInstant="2026-11-02T09:30:00.120Z" Version="2.0"><Issuer>https://idp.example.org/realms/demo</Issuer><NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">alice</NameID><samlp:SessionIndex>6f0a1c2e-7b3d-4e5f-8a9b-0c1d2e3f4a5b</samlp:SessionIndex></samlp:LogoutRequest>`

func TestRedirectSignVerify(t *testing.T) {
	keys(t)
	tests := []struct {
		alg string
		k   testKey
	}{
		{RSASHA256, rsaKey}, {RSASHA384, rsaKey}, {RSASHA512, rsaKey},
		{ECDSASHA256, p256Key}, {ECDSASHA384, p256Key}, {ECDSASHA512, p384Key},
	}
	for _, tt := range tests {
		t.Run(tt.alg[strings.IndexByte(tt.alg, '#')+1:], func(t *testing.T) {
			relay := url.QueryEscape("https://app/é?a=1&b=2")
			q, err := SignRedirect("SAMLRequest", []byte(logoutRequest), relay, tt.alg, tt.k.key)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(q, "SAMLRequest=") || !strings.Contains(q, "&RelayState="+relay+"&SigAlg=") || !strings.Contains(q, "&Signature=") {
				t.Fatalf("query %s", q)
			}
			r, err := ParseRedirect(q, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != "SAMLRequest" || string(r.Message) != logoutRequest || r.RelayState != "https://app/é?a=1&b=2" || r.RawRelayState() != relay || r.SigAlg != tt.alg {
				t.Fatalf("read back %+v", r)
			}
			if err := r.Verify([]*x509.Certificate{rsaOther.cert, tt.k.cert}, nil); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := r.Verify([]*x509.Certificate{rsaOther.cert}, nil); !errors.Is(err, ErrSignature) {
				t.Fatalf("another key: %v", err)
			}
		})
	}
}

// Keycloak's LogoutRequests to other SPs: no RelayState, signed in the
// query only, parameters in any order on the wire.
func TestRedirectKeycloakLogout(t *testing.T) {
	keys(t)
	q, err := SignRedirect("SAMLRequest", []byte(logoutRequest), "", RSASHA256, rsaKey.key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q, "RelayState") {
		t.Fatal(q)
	}
	parts := strings.Split(q, "&")
	reordered := parts[2] + "&" + parts[1] + "&other=1&" + parts[0]
	r, err := ParseRedirect(reordered, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.HasRelayState {
		t.Fatal("a RelayState appeared")
	}
	if err := r.Verify([]*x509.Certificate{rsaKey.cert}, nil); err != nil {
		t.Fatal(err)
	}
}

// The signature covers the values as the sender encoded them: a
// RelayState encoded unlike Go would encode it passes and verifies.
func TestRedirectRawValues(t *testing.T) {
	keys(t)
	relay := "a%2fb+c%7E%C3%A9"
	q, err := SignRedirect("SAMLResponse", []byte("<x/>"), relay, RSASHA256, rsaKey.key)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRedirect(q, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.RawRelayState() != relay || r.RelayState != "a/b c~é" {
		t.Fatalf("%q %q", r.RawRelayState(), r.RelayState)
	}
	if err := r.Verify([]*x509.Certificate{rsaKey.cert}, nil); err != nil {
		t.Fatal(err)
	}
	// Re-encoded the Go way, the same RelayState no longer verifies.
	q2 := strings.Replace(q, relay, url.QueryEscape(r.RelayState), 1)
	r2, err := ParseRedirect(q2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Verify([]*x509.Certificate{rsaKey.cert}, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("re-encoded: %v", err)
	}
}

func TestRedirectTampered(t *testing.T) {
	keys(t)
	q, err := SignRedirect("SAMLRequest", []byte(logoutRequest), "state", RSASHA256, rsaKey.key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := SignRedirect("SAMLRequest", []byte(strings.Replace(logoutRequest, "alice", "admin", 1)), "", "", nil)
	tests := map[string]string{
		"message":    strings.Replace(q, q[:strings.IndexByte(q, '&')], other, 1),
		"RelayState": strings.Replace(q, "RelayState=state", "RelayState=stat3", 1),
		"SigAlg":     strings.Replace(q, url.QueryEscape(RSASHA256), url.QueryEscape(RSASHA512), 1),
		"ECDSA alg":  strings.Replace(q, url.QueryEscape(RSASHA256), url.QueryEscape(ECDSASHA256), 1),
		"no relay":   strings.Replace(q, "&RelayState=state", "", 1),
	}
	for name, tq := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := ParseRedirect(tq, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify([]*x509.Certificate{rsaKey.cert}, nil); !errors.Is(err, ErrSignature) {
				t.Fatalf("got %v", err)
			}
		})
	}
	t.Run("wrong SigAlg", func(t *testing.T) {
		for _, alg := range []string{"http://www.w3.org/2000/09/xmldsig#dsa-sha1", "none", "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"} {
			r, err := ParseRedirect(strings.Replace(q, url.QueryEscape(RSASHA256), url.QueryEscape(alg), 1), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify([]*x509.Certificate{rsaKey.cert}, append(DefaultAlgorithms(), alg)); !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("%s: got %v", alg, err)
			}
		}
	})
	t.Run("not in the allow-list", func(t *testing.T) {
		r, _ := ParseRedirect(q, 0)
		if err := r.Verify([]*x509.Certificate{rsaKey.cert}, []string{RSASHA512}); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unsigned", func(t *testing.T) {
		r, err := ParseRedirect(other, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Verify([]*x509.Certificate{rsaKey.cert}, nil); !errors.Is(err, ErrUnsigned) {
			t.Fatalf("got %v", err)
		}
	})
}

// sha1Query signs as old IdPs do, which SignRedirect refuses to.
func sha1Query(t *testing.T, k crypto.Signer, alg string) string {
	unsigned, err := SignRedirect("SAMLRequest", []byte(logoutRequest), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	octets := unsigned + "&SigAlg=" + url.QueryEscape(alg)
	sum := sha1.Sum([]byte(octets))
	sig, err := k.Sign(rand.Reader, sum[:], crypto.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	return octets + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

func TestRedirectSHA1(t *testing.T) {
	keys(t)
	for _, tt := range []struct {
		alg string
		k   testKey
	}{{RSASHA1, rsaKey}, {ECDSASHA1, p256Key}} {
		r, err := ParseRedirect(sha1Query(t, tt.k.key, tt.alg), 0)
		if err != nil {
			t.Fatal(err)
		}
		certs := []*x509.Certificate{tt.k.cert}
		if err := r.Verify(certs, nil); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("%s by default: %v", tt.alg, err)
		}
		if err := r.Verify(certs, append(DefaultAlgorithms(), tt.alg)); err != nil {
			t.Fatalf("%s when listed: %v", tt.alg, err)
		}
	}
	if _, err := SignRedirect("SAMLRequest", []byte("<x/>"), "", RSASHA1, rsaKey.key); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("signing with SHA-1: %v", err)
	}
}

// Java's JCA (Keycloak, OpenSAML) writes ECDSA signatures in ASN.1.
func TestRedirectECDSAASN1(t *testing.T) {
	keys(t)
	unsigned, _ := SignRedirect("SAMLRequest", []byte(logoutRequest), "", "", nil)
	octets := unsigned + "&SigAlg=" + url.QueryEscape(ECDSASHA256)
	h := crypto.SHA256.New()
	h.Write([]byte(octets))
	der, err := p256Key.key.Sign(rand.Reader, h.Sum(nil), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRedirect(octets+"&Signature="+url.QueryEscape(base64.StdEncoding.EncodeToString(der)), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify([]*x509.Certificate{p256Key.cert}, nil); err != nil {
		t.Fatal(err)
	}
}

func deflated(t testing.TB, b []byte) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

func TestRedirectDeflateBomb(t *testing.T) {
	bomb := deflated(t, make([]byte, 64<<20))
	if len(bomb) > 200<<10 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	if _, err := ParseRedirect("SAMLRequest="+bomb, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	q := "SAMLRequest=" + deflated(t, make([]byte, 1000))
	if _, err := ParseRedirect(q, 999); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over a cap of 999: %v", err)
	}
	if _, err := ParseRedirect(q, 1000); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
}

func TestParseRedirectRefusals(t *testing.T) {
	m := deflated(t, []byte(logoutRequest))
	sigAlg := url.QueryEscape(RSASHA256)
	repeated := []string{
		"SAMLRequest=" + m + "&SAMLRequest=" + m,
		"SAMLRequest=" + m + "&samlrequest=" + m,
		"SAMLRequest=" + m + "&RelayState=a&RelayState=b",
		"SAMLRequest=" + m + "&RelayState=a&relaystate=b",
		"SAMLRequest=" + m + "&SigAlg=" + sigAlg + "&SigAlg=" + sigAlg + "&Signature=AA==",
		"SAMLRequest=" + m + "&SigAlg=" + sigAlg + "&Signature=AA==&signature=AA==",
		"SAML%52equest=" + m + "&SAMLRequest=" + m,
	}
	for _, q := range repeated {
		_, err := ParseRedirect(q, 0)
		var rep *interception.ErrRepeated
		var ie *interception.Error
		if !errors.As(err, &rep) || !errors.As(err, &ie) || ie.Status != 400 {
			t.Errorf("%.60s…: got %v", q, err)
		}
	}
	tests := []struct {
		name, q string
		want    error
	}{
		{"both", "SAMLRequest=" + m + "&SAMLResponse=" + m, ErrAmbiguous},
		{"none", "RelayState=x", ErrNoMessage},
		{"bad query", "SAMLRequest=%zz", ErrMalformed},
		{"not base64", "SAMLRequest=%24%24", ErrMalformed},
		{"not deflate", "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<plain/>"))), ErrMalformed},
		{"SigAlg alone", "SAMLRequest=" + m + "&SigAlg=" + sigAlg, ErrMalformed},
		{"Signature alone", "SAMLRequest=" + m + "&Signature=AA%3D%3D", ErrMalformed},
		{"Signature not base64", "SAMLRequest=" + m + "&SigAlg=" + sigAlg + "&Signature=%24", ErrMalformed},
		{"another encoding", "SAMLRequest=" + m + "&SAMLEncoding=urn%3Aother", ErrMalformed},
	}
	for _, tt := range tests {
		if _, err := ParseRedirect(tt.q, 0); !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := ParseRedirect("SAMLRequest="+m+"&SAMLEncoding="+url.QueryEscape(deflateEncoding), 0); err != nil {
		t.Errorf("SAMLEncoding DEFLATE: %v", err)
	}
}

func TestSignRedirectRefuses(t *testing.T) {
	keys(t)
	tests := map[string]func() error{
		"RSA key, ECDSA alg": func() error { _, err := SignRedirect("SAMLRequest", nil, "", ECDSASHA256, rsaKey.key); return err },
		"ECDSA key, RSA alg": func() error { _, err := SignRedirect("SAMLRequest", nil, "", RSASHA256, p256Key.key); return err },
		"unknown alg":        func() error { _, err := SignRedirect("SAMLRequest", nil, "", "x", rsaKey.key); return err },
		"RelayState with &": func() error {
			_, err := SignRedirect("SAMLRequest", nil, "a&SigAlg=x", RSASHA256, rsaKey.key)
			return err
		},
		"RelayState bad %": func() error { _, err := SignRedirect("SAMLRequest", nil, "%zz", RSASHA256, rsaKey.key); return err },
		"name":             func() error { _, err := SignRedirect("RelayState", nil, "", RSASHA256, rsaKey.key); return err },
	}
	for name, f := range tests {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
