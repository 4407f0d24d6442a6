package keys

import "testing"

func BenchmarkSign(b *testing.B) {
	claims := map[string]any{
		"iss": "https://auth.example.com", "sub": "248289761001", "aud": "web-app",
		"exp": 1700003600, "iat": 1700000000, "nonce": "n-0S6_WzA2Mj", "tier": "gold",
	}
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			m := mustNew(b, NewMemoryStorage(), Config{Algorithm: alg})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(claims, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
