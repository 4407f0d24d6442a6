package binding

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

func TestPostPage(t *testing.T) {
	const relay = `https://app/é?a=1&b="2"<x>'y'`
	msg := []byte(`<samlp:Response ID="deny"/>`)
	page, err := PostPage("https://sp.example.org/acs?x=1&y=2", "SAMLResponse", msg, relay)
	if err != nil {
		t.Fatal(err)
	}
	f := mustParse(t, page)
	if got, err := f.Decode(); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("message %q, %v", got, err)
	}
	if f.RelayState == nil || f.RelayState.Value != relay {
		t.Fatalf("RelayState %+v", f.RelayState)
	}
	if f.Action == nil || f.Action.Value != "https://sp.example.org/acs?x=1&y=2" || f.Method != "post" {
		t.Fatalf("action %+v, method %q", f.Action, f.Method)
	}
	if !bytes.Contains(page, []byte("<noscript><button")) {
		t.Fatal("no button for pages without scripts")
	}
	// The one inline script is the one PostPageCSP allows.
	s := bytes.Index(page, []byte("<script>")) + len("<script>")
	e := bytes.Index(page, []byte("</script>"))
	sum := sha256.Sum256(page[s:e])
	if !strings.Contains(PostPageCSP, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || bytes.Count(page, []byte("<script")) != 1 {
		t.Fatalf("CSP %q does not allow the script %q", PostPageCSP, page[s:e])
	}
	if strings.Contains(PostPageCSP, "unsafe-inline") {
		t.Fatal("unsafe-inline")
	}

	page, err = PostPage("https://sp/acs", "SAMLRequest", msg, "")
	if err != nil || bytes.Contains(page, []byte("RelayState")) {
		t.Fatalf("no RelayState: %s, %v", page, err)
	}
}

func TestPostPageRefuses(t *testing.T) {
	for _, action := range []string{"javascript:alert(1)", "/acs", "data:text/html,x", "https://", "ht tp://x"} {
		if _, err := PostPage(action, "SAMLResponse", nil, ""); err == nil {
			t.Errorf("action %q accepted", action)
		}
	}
	if _, err := PostPage("https://sp/acs", "RelayState", nil, ""); err == nil {
		t.Error("name RelayState accepted")
	}
}
