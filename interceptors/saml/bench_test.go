package saml

import (
	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/saml/binding"

	"crypto/x509"
	"testing"

	"github.com/beevik/etree"
	"github.com/idphooks/idphooks/sandbox"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// benchDoc is a Keycloak-shaped Response: 10 attributes (email, two Role
// elements, 7 more), signed assertion, RSA-2048.
func benchDoc(b *testing.B) string {
	return idpSign(b, keycloakResponse(keycloakAssertion("alice", 7)), "dsig", "ID_a1b2c3")
}

// BenchmarkResponseRoundTrip: decode + verify + extract + edit + re-sign
// + base64, the whole of idphooks' work on a typical response.
func BenchmarkResponseRoundTrip(b *testing.B) {
	benchRoundTrip(b, benchDoc(b), verifier(), nil, []sandbox.Op{
		{Object: "assertion", Method: "setAttribute", Args: []any{"tier", "gold"}},
		{Object: "assertion", Method: "removeAttribute", Args: []any{"attr0"}},
	})
}

// benchRoundTrip runs idphooks' work on response: decode, verify with v,
// model, apply ops, sign (encrypting to to, when set), encode.
func benchRoundTrip(b *testing.B, response string, v *Verifier, to *Encryption, ops []sandbox.Op) {
	enc := binding.EncodeMessage([]byte(response))
	s, p := signer(), events.NewAssertionPolicy(nil)
	b.ReportAllocs()
	for b.Loop() {
		x, err := binding.DecodeMessage(enc, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		r, err := v.Verify(x)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Model().Map()
		if _, err := r.Apply(p, ops); err != nil {
			b.Fatal(err)
		}
		r.EncryptTo = to
		out, err := s.Sign(r)
		if err != nil {
			b.Fatal(err)
		}
		_ = binding.EncodeMessage(out)
	}
}

// BenchmarkBareVerifySign: goxmldsig alone, verify then sign the same
// Assertion, the floor the round trip is compared with.
func BenchmarkBareVerifySign(b *testing.B) {
	x := benchDoc(b)
	idp, hooks := keys()
	vctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{idp.cert}})
	sctx, _ := dsig.NewSigningContext(hooks.key, [][]byte{hooks.cert.Raw})
	sctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	b.ReportAllocs()
	for b.Loop() {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(x); err != nil {
			b.Fatal(err)
		}
		a := doc.FindElement("//Assertion")
		det := detach(b, a)
		got, err := vctx.Validate(det)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sctx.SignEnveloped(got); err != nil {
			b.Fatal(err)
		}
	}
}

// detach is a copy of el declaring the namespaces it uses from its
// ancestors, as goxmldsig canonicalizes and signs it.
func detach(t testing.TB, el *etree.Element) *etree.Element {
	t.Helper()
	ctx, err := etreeNSParent(el)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func etreeNSParent(el *etree.Element) (*etree.Element, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	return etreeutils.NSDetatch(ctx, el)
}
