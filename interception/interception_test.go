package interception

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/token":                            "/token",
		"/TOKEN":                            "/token",
		"/Token/":                           "/token",
		"//token":                           "/token",
		"/x/../Token":                       "/token",
		"/token;jsessionid=1":               "/token",
		`\token`:                            "/token",
		"/.WELL-KNOWN/OPENID-CONFIGURATION": "/.well-known/openid-configuration",
		"/to\u212Aen":                       "/token",   // Kelvin sign folds to k
		"/\u017Fession":                     "/session", // long s folds to s
		"token":                             "/token",
		"/token.":                           "/token",
		"/token..":                          "/token",
		"/./TOKEN./":                        "/token",
		"/UserInfo. ":                       "/userinfo",
		"/realms/a./token":                  "/realms/a/token",
		"/a/../token":                       "/token",
		"/static/app.css":                   "/static/app.css",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSingle(t *testing.T) {
	q, _ := url.ParseQuery("client_id=a")
	f, _ := url.ParseQuery("client_id=b&scope=x&resource=1&resource=2")
	var rep *ErrRepeated
	if err := Single([]string{"client_id"}, q, f); !errors.As(err, &rep) || rep.Name != "client_id" {
		t.Errorf("query and form: %v", err)
	}
	if err := Single([]string{"scope", "grant_type"}, q, f); err != nil {
		t.Errorf("single values: %v", err)
	}
	if err := Single([]string{"resource"}, f); err == nil {
		t.Error("repeated resource passed Single")
	}
}

// Only the value attribute of the named input changes; the same text in
// another attribute, or in another field, stays.
func TestSetInputValues(t *testing.T) {
	const iss = "http://idp"
	page := `<form><input data-x="http://idp" type=hidden name="iss" VALUE='http://idp'><input name="other" value="http://idp">` +
		`<input name=iss value=http://idp></form>`
	out, ok := SetInputValues([]byte(page), "iss", func(v string) bool { return v == iss }, "https://a&b")
	want := `<form><input data-x="http://idp" type=hidden name="iss" VALUE='https://a&amp;b'><input name="other" value="http://idp">` +
		`<input name=iss value="https://a&amp;b"></form>`
	if !ok || string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if _, ok := SetInputValues([]byte(`<input name="iss" value="x">`), "iss", func(v string) bool { return v == iss }, "y"); ok {
		t.Error("an unmatched value was rewritten")
	}
}

func TestCaptureHoldsSuccessesStreamsTheRest(t *testing.T) {
	answer := func(status int, body string) caddyhttp.Handler {
		return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, err := w.Write([]byte(body))
			return err
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/token", nil)

	w := httptest.NewRecorder()
	c := NewCapture(w, 16, Successes)
	if err := c.Serve(answer(400, `{"error":"invalid_grant"}`), r); err != nil || c.Held() {
		t.Fatalf("400: held %v, err %v", c.Held(), err)
	}
	if w.Code != 400 || w.Body.String() != `{"error":"invalid_grant"}` {
		t.Errorf("an error answer did not stream as it was: %d %s", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	c = NewCapture(w, 16, Successes)
	if err := c.Serve(answer(203, `{"a":1}`), r); err != nil || !c.Held() || c.Status() != 203 || string(c.Raw()) != `{"a":1}` {
		t.Fatalf("203: held %v status %d %q %v", c.Held(), c.Status(), c.Raw(), err)
	}
	if w.Body.Len() != 0 {
		t.Error("a held answer reached the client")
	}

	// Past the cap the upstream is read to its end, not failed.
	w = httptest.NewRecorder()
	c = NewCapture(w, 16, Successes)
	var writeErr error
	big := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		for range 100 {
			if _, writeErr = w.Write([]byte(strings.Repeat("x", 1000))); writeErr != nil {
				break
			}
		}
		return nil
	})
	if err := c.Serve(big, r); err != nil || writeErr != nil || !c.Over() || !c.Held() {
		t.Fatalf("over the cap: over %v, write error %v, err %v", c.Over(), writeErr, err)
	}
	if _, err := c.Body(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Body over the cap: %v", err)
	}

	// Beyond the drain limit the write fails; reverse_proxy's abort is
	// recovered for a Capture that is over, and only then.
	w = httptest.NewRecorder()
	c = NewCapture(w, 16, Successes)
	abort := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		chunk := make([]byte, 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				panic(http.ErrAbortHandler)
			}
		}
	})
	if err := c.Serve(abort, r); err != nil || !c.Over() {
		t.Fatalf("aborted: over %v err %v", c.Over(), err)
	}
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("an abort of a capture under its cap was swallowed: %v", v)
		}
	}()
	c = NewCapture(httptest.NewRecorder(), 16, Successes)
	_ = c.Serve(caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { panic(http.ErrAbortHandler) }), r)
}

func TestDecodableOnly(t *testing.T) {
	for in, want := range map[string]string{
		"gzip, deflate, br, zstd": "gzip, deflate, zstd",
		"br":                      "identity",
		"br;q=1.0, gzip;q=0.8":    "gzip;q=0.8",
		"*":                       "identity",
		"":                        "",
	} {
		h := http.Header{}
		if in != "" {
			h.Set("Accept-Encoding", in)
		}
		DecodableOnly(h)
		if got := h.Get("Accept-Encoding"); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
