package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// Secrets that are not whsec_ base64 of 24 to 64 bytes are refused, each
// with an error that says why and never shows the value.
func TestParseSecretErrors(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"no prefix", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", `must start with "whsec_"`},
		{"other prefix", "whsk_" + b64(32), `must start with "whsec_"`},
		{"not base64", "whsec_not*base64!", "not base64: illegal base64 data at byte 3"},
		{"url-safe alphabet", "whsec_" + strings.Repeat("-_", 16), "URL-safe alphabet"},
		{"too short", "whsec_" + b64(16), "too short: 16 bytes, at least 24"},
		{"too long", "whsec_" + b64(65), "too long: 65 bytes, at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSecret(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Fatalf("the value shows in %v", err)
			}
		})
	}
	for _, ok := range []string{"whsec_" + b64(24), "whsec_" + b64(64), "whsec_" + strings.TrimRight(b64(32), "="), " whsec_" + b64(32) + "\n", GenerateSecret()} {
		if _, err := ParseSecret(ok); err != nil {
			t.Fatalf("%q: %v", ok, err)
		}
	}
}

// The spec's own example: the signature of a known message under a known
// secret, computed independently here.
func TestSignatureV1(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	s, err := NewSigner([]string{secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := s.Signature(id, ts, body); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// Every secret and key signs, space-separated, secrets first; v1a
// verifies with the published whpk_ key.
func TestSignatureRotationAndV1a(t *testing.T) {
	sk, pk := GenerateSigningKey()
	s, err := NewSigner([]string{GenerateSecret(), GenerateSecret()}, []string{sk})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.PublicKeys(); len(got) != 1 || got[0] != pk {
		t.Fatalf("PublicKeys = %v, want [%s]", got, pk)
	}
	sigs := strings.Split(s.Signature("msg_1", time.Unix(1700000000, 0), []byte("{}")), " ")
	if len(sigs) != 3 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") || !strings.HasPrefix(sigs[2], "v1a,") {
		t.Fatalf("signatures %v", sigs)
	}
	pub, err := ParsePublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sigs[2], "v1a,"))
	if !ed25519.Verify(pub, []byte("msg_1.1700000000.{}"), raw) {
		t.Fatal("v1a does not verify")
	}
}

func TestParseSigningKey(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	full := "whsk_" + base64.StdEncoding.EncodeToString(priv)
	k, err := ParseSigningKey(full)
	if err != nil {
		t.Fatal(err)
	}
	if k.PublicKey() != "whpk_"+base64.StdEncoding.EncodeToString(pub) {
		t.Fatal("64-byte form: wrong public key")
	}
	mismatched := append(append([]byte(nil), priv.Seed()...), make([]byte, 32)...)
	tests := []struct{ in, want string }{
		{"whpk_" + base64.StdEncoding.EncodeToString(pub), "this is a public key"},
		{"whsk_%%%", "not base64"},
		{"whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)), "31 bytes"},
		{"whsk_" + base64.StdEncoding.EncodeToString(mismatched), "not the public key"},
	}
	for _, tt := range tests {
		if _, err := ParseSigningKey(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%s: err = %v, want %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParsePublicKey("whpk_" + base64.StdEncoding.EncodeToString(make([]byte, 5))); err == nil {
		t.Fatal("short public key accepted")
	}
}
