package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A failed fetch says what happened in a few words and what to check, for
// whoever runs Caddy; Go's wrapping stays in Err.
func TestFetchErrorReasons(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/x"
	ln.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			http.NotFound(w, r)
		case "/away":
			http.Redirect(w, r, "http://elsewhere.example/x", http.StatusFound)
		}
	}))
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()

	for _, tc := range []struct {
		url, reason, hint string
		unreachable       bool
	}{
		{closed, "connection refused", "is the IdP running and reachable from Caddy?", true},
		{srv.URL + "/gone", "status 404 Not Found", "", false},
		{srv.URL + "/away", "redirect from http://127.0.0.1", "rather than one it redirects from?", false},
		{"http://idp.invalid/x", `"idp.invalid"`, "resolvable where Caddy runs", true},
		{tlsSrv.URL + "/x", "TLS: ", "trust the CA of the IdP's certificate?", true},
		{"https://" + strings.TrimPrefix(srv.URL, "http://") + "/x", "HTTP response to HTTPS client", "start with http://", true},
	} {
		_, err := NewClient(tc.url, 1<<20).Get(context.Background(), tc.url, "")
		var fe *FetchError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %T %v, want a *FetchError", tc.url, err, err)
			continue
		}
		if !strings.Contains(fe.Reason(), tc.reason) || strings.Contains(fe.Reason(), tc.url) {
			t.Errorf("%s: reason %q, want %q without the URL", tc.url, fe.Reason(), tc.reason)
		}
		if tc.hint == "" && fe.Hint() != "" || !strings.Contains(fe.Hint(), tc.hint) {
			t.Errorf("%s: hint %q, want %q", tc.url, fe.Hint(), tc.hint)
		}
		if fe.Unreachable() != tc.unreachable {
			t.Errorf("%s: Unreachable() = %v", tc.url, fe.Unreachable())
		}
		if fe.Error() != "GET "+tc.url+": "+fe.Reason() {
			t.Errorf("%s: Error() = %q", tc.url, fe.Error())
		}
	}
}
