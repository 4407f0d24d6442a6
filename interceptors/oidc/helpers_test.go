package oidc

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
)

func writeFile(path, src string) error { return os.WriteFile(path, []byte(src), 0o600) }

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func itoa(n int) string { return strconv.Itoa(n) }

// oauthError checks an answer idphooks gave in the IdP's place: status,
// an RFC 6749 error body of exactly error and error_description with the
// given code, as JSON that is never cached. It returns the description.
func oauthError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body) != 2 {
		t.Fatalf("body %q is not {error, error_description}: %v", w.Body, err)
	}
	if body["error"] != code || body["error_description"] == "" {
		t.Fatalf("body %s, want error %q with a description", w.Body, code)
	}
	return body["error_description"]
}
