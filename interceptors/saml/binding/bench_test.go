package binding

import (
	"crypto/x509"
	"testing"
)

// BenchmarkParsePost: Keycloak's themed page, about 17 kB.
func BenchmarkParsePost(b *testing.B) {
	page := readPage(b, "keycloak-26.7-post.html")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePost(page, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePostWhole: the Keycloak page read by the tokenizer whole,
// to compare with BenchmarkParsePost.
func BenchmarkParsePostWhole(b *testing.B) {
	page := readPage(b, "keycloak-26.7-post.html")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parsePost(page, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSplicePost: what the interceptor pays on the page: parse,
// decode the message, put a new one in.
func BenchmarkParseSplicePost(b *testing.B) {
	page := readPage(b, "keycloak-26.7-post.html")
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := ParsePost(page, 0)
		if err != nil {
			b.Fatal(err)
		}
		msg, err := f.Decode()
		if err != nil {
			b.Fatal(err)
		}
		_ = f.SetMessage(page, msg)
	}
}

func BenchmarkParseVerifyRedirect(b *testing.B) {
	keys(b)
	q, err := SignRedirect("SAMLRequest", []byte(logoutRequest), "state", RSASHA256, rsaKey.key)
	if err != nil {
		b.Fatal(err)
	}
	certs := []*x509.Certificate{rsaKey.cert}
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRedirect(q, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Verify(certs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRedirect(b *testing.B) {
	keys(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SignRedirect("SAMLRequest", []byte(logoutRequest), "state", RSASHA256, rsaKey.key); err != nil {
			b.Fatal(err)
		}
	}
}
