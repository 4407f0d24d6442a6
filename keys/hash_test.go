package keys

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"testing"
)

func TestHashClaimOIDCCoreExamples(t *testing.T) {
	// Values from the examples in OpenID Connect Core 1.0, Appendix A
	// (ID tokens signed with RS256).
	for _, tc := range []struct{ name, value, want string }{
		{"at_hash A.3", "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
		{"c_hash A.4", "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk", "LDktKdoQak3Pk0cnXxCltA"},
	} {
		if got := HashClaim("RS256", tc.value); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestHashClaimPerAlgorithm(t *testing.T) {
	const token = "an-access-token"
	half := func(sum []byte) string { return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]) }
	s256 := sha256.Sum256([]byte(token))
	s384 := sha512.Sum384([]byte(token))
	s512 := sha512.Sum512([]byte(token))
	for alg, want := range map[string]string{
		"RS256": half(s256[:]), "ES256": half(s256[:]), "PS256": half(s256[:]),
		"RS384": half(s384[:]), "ES384": half(s384[:]), "PS384": half(s384[:]),
		"RS512": half(s512[:]), "ES512": half(s512[:]), "PS512": half(s512[:]),
		"EdDSA": half(s512[:]),
		"none":  "",
	} {
		if got := HashClaim(alg, token); got != want {
			t.Errorf("%s: got %q, want %q", alg, got, want)
		}
	}
}
