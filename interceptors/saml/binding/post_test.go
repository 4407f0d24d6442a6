package binding

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func readPage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t *testing.T, page []byte) *PostForm {
	t.Helper()
	f, err := ParsePost(page, 0)
	if err != nil {
		t.Fatalf("ParsePost: %v", err)
	}
	return f
}

// checkSplice replaces the message and checks that the page is otherwise
// byte for byte the same and reads back the new message.
func checkSplice(t *testing.T, page []byte, f *PostForm, msg []byte) []byte {
	t.Helper()
	out := f.SetMessage(page, msg)
	if !bytes.Equal(out[:f.Message.Start], page[:f.Message.Start]) {
		t.Fatal("bytes before the message changed")
	}
	if !bytes.HasSuffix(out, page[f.Message.End:]) {
		t.Fatal("bytes after the message changed")
	}
	g := mustParse(t, out)
	got, err := g.Decode()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("after the splice the message reads %q, %v", got, err)
	}
	if (f.RelayState == nil) != (g.RelayState == nil) {
		t.Fatal("RelayState appeared or vanished")
	}
	if f.RelayState != nil {
		if g.RelayState.Value != f.RelayState.Value || !bytes.Equal(out[g.RelayState.Start:g.RelayState.End], page[f.RelayState.Start:f.RelayState.End]) {
			t.Fatal("RelayState changed")
		}
	}
	return out
}

func TestParsePostKeycloak(t *testing.T) {
	page := readPage(t, "keycloak-26.7-post.html")
	f := mustParse(t, page)
	if f.Action == nil || f.Action.Value != "https://sp.example.org/saml/acs" || f.Method != "post" {
		t.Fatalf("action %+v method %q", f.Action, f.Method)
	}
	if !bytes.HasPrefix(page[f.Start:f.End], []byte(`<form name="saml-post-binding"`)) {
		t.Fatalf("form tag %q", page[f.Start:f.End])
	}
	msg, err := f.Decode()
	if err != nil || !bytes.HasPrefix(msg, []byte(`<samlp:Response `)) {
		t.Fatalf("Decode: %.40q, %v", msg, err)
	}
	const rs = `https://app.example.org/après/😀?tab=résumé&q="café" <b>'x' — über`
	if f.RelayState == nil || f.RelayState.Value != rs {
		t.Fatalf("RelayState %+v", f.RelayState)
	}
	if raw := string(page[f.RelayState.Start:f.RelayState.End]); !strings.Contains(raw, "&amp;q=&quot;café&quot; &lt;b&gt;&#39;x&#39;") {
		t.Fatalf("RelayState span %q", raw)
	}
	// Putting the same base64 back gives the very same page.
	if out := Splice(page, f.Message, f.Message.Value); !bytes.Equal(out, page) {
		t.Fatal("an identical splice changed the page")
	}
	checkSplice(t, page, f, []byte(`<samlp:Response ID="new"/>`))
}

func TestParsePostSimpleSAMLphp(t *testing.T) {
	page := readPage(t, "simplesamlphp-1.19-post.html")
	f := mustParse(t, page)
	if f.Action == nil || f.Action.Value != "https://sp.example.org/simplesaml/module.php/saml/sp/saml2-acs.php/default-sp" {
		t.Fatalf("action %+v", f.Action)
	}
	if !bytes.Contains(page[f.Message.Start:f.Message.End], []byte("\r\n")) {
		t.Fatal("the testdata lost its CRLF-wrapped base64 (see .gitattributes)")
	}
	msg, err := f.Decode()
	if err != nil || !bytes.HasPrefix(msg, []byte("<?xml version=\"1.0\"?>\n<samlp:Response ")) {
		t.Fatalf("Decode: %.40q, %v", msg, err)
	}
	if f.RelayState == nil || f.RelayState.Value != "https://sp.example.org/simplesaml/module.php/admin/test/default-sp?AuthState=_5c1e4a9d0b%3Ahttps%3A%2F%2Fsp.example.org&lang=de" {
		t.Fatalf("RelayState %+v", f.RelayState)
	}
	checkSplice(t, page, f, append(msg, "<!-- edited -->"...))
}

func TestParsePostShapes(t *testing.T) {
	const b64 = "PHg+PC94Pg==" // <x></x>
	tests := []struct {
		name, page     string
		value, relay   string // relay "-" for none
		action, method string // action "-" for none
	}{
		{"upper case", `<HTML><BODY><FORM METHOD="POST" ACTION="https://sp/acs"><INPUT TYPE="HIDDEN" NAME="SAMLResponse" VALUE="PHg+PC94Pg=="><INPUT TYPE=HIDDEN NAME="RelayState" VALUE="r"></FORM><SCRIPT>document.forms[0].submit()</SCRIPT>`, b64, "r", "https://sp/acs", "post"},
		{"single quotes", `<form method='post' action='https://sp/acs'><input type='hidden' name='SAMLResponse' value='PHg+PC94Pg=='/><input type='hidden' name='RelayState' value='it"s'/></form>`, b64, `it"s`, "https://sp/acs", "post"},
		{"no quotes", `<form method=post action=https://sp/acs><input type=hidden name=SAMLResponse value=PHg+PC94Pg== ><input type=hidden name=RelayState value=abc></form>`, b64, "abc", "https://sp/acs", "post"},
		{"value before name", `<form method="post" action="https://sp/acs"><input value="PHg+PC94Pg==" type="hidden" name="SAMLResponse"><input value="r" name="RelayState" type="hidden"></form>`, b64, "r", "https://sp/acs", "post"},
		{"CRLF wrapped", "<form method=\"post\" action=\"https://sp/acs\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"PHg+\r\nPC94\r\nPg==\"></form>", "PHg+\nPC94\nPg==", "-", "https://sp/acs", "post"},
		{"entity wrapped", `<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+&#13;&#10;PC94&#13;&#10;Pg=="></form>`, "PHg+\r\nPC94\r\nPg==", "-", "https://sp/acs", "post"},
		{"escaped RelayState", `<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="><input type="hidden" name="RelayState" value="/caf&eacute;?a=1&amp;b=&lt;2&gt;&#x27;ü"></form>`, b64, "/café?a=1&b=<2>'ü", "https://sp/acs", "post"},
		{"entity in name", `<form method="post" action="https://sp/acs"><input type="hidden" name="&#83;AMLResponse" value="PHg+PC94Pg=="></form>`, b64, "-", "https://sp/acs", "post"},
		{"RelayState outside the form", `<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="></form><input type="hidden" name="RelayState" value="r">`, b64, "-", "https://sp/acs", "post"},
		{"input outside joined by form=", `<input type="hidden" name="SAMLResponse" value="PHg+PC94Pg==" form="saml"><form id="lang" action="/lang"></form><form id="saml" method="post" action="https://sp/acs"><input type="hidden" name="RelayState" value="r"></form>`, b64, "r", "https://sp/acs", "post"},
		{"several forms", `<form id="lang" method="get" action="/lang"><input name="kc_locale" value="de"><input type="hidden" name="RelayState" value="wrong"></form><form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="><input type="hidden" name="RelayState" value="right"></form><form action="/search"><input name="q"></form>`, b64, "right", "https://sp/acs", "post"},
		{"no action", `<form method="post"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="></form>`, b64, "-", "-", "post"},
		{"escaped action", `<form method="post" action="https://sp/acs?a=1&amp;b=2"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="></form>`, b64, "-", "https://sp/acs?a=1&b=2", "post"},
		{"nested form ignored", `<form method="post" action="https://sp/acs"><form action="https://evil/"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="></form>`, b64, "-", "https://sp/acs", "post"},
		{"comment and script ignored", `<!-- <input name="SAMLResponse" value="old"> --><script>var s = '<input name="SAMLResponse" value="js">';</script><form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="><textarea><input name="RelayState" value="t"></textarea></form>`, b64, "-", "https://sp/acs", "post"},
		{"noscript button", `<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="><noscript><input type="submit" value="Continue"/></noscript></form>`, b64, "-", "https://sp/acs", "post"},
		{"SAMLRequest", `<form method="post" action="https://idp/sso"><input type="hidden" name="SAMLRequest" value="PHg+PC94Pg=="><input type="hidden" name="RelayState" value="r"></form>`, b64, "r", "https://idp/sso", "post"},
		{"self-closing, no space", `<form method="post" action="https://sp/acs"><input type="hidden" name="SAMLResponse" value="PHg+PC94Pg=="/></form>`, b64, "-", "https://sp/acs", "post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := []byte(tt.page)
			f := mustParse(t, page)
			if f.Message.Value != tt.value {
				t.Errorf("message %q, want %q", f.Message.Value, tt.value)
			}
			if msg, err := f.Decode(); err != nil || string(msg) != "<x></x>" {
				t.Errorf("Decode %q, %v", msg, err)
			}
			switch {
			case tt.relay == "-" && f.RelayState != nil:
				t.Errorf("RelayState %q, want none", f.RelayState.Value)
			case tt.relay != "-" && (f.RelayState == nil || f.RelayState.Value != tt.relay):
				t.Errorf("RelayState %+v, want %q", f.RelayState, tt.relay)
			}
			switch {
			case tt.action == "-" && f.Action != nil:
				t.Errorf("action %q, want none", f.Action.Value)
			case tt.action != "-" && (f.Action == nil || f.Action.Value != tt.action):
				t.Errorf("action %+v, want %q", f.Action, tt.action)
			}
			if f.Method != tt.method {
				t.Errorf("method %q", f.Method)
			}
			checkSplice(t, page, f, []byte(`<samlp:Response ID="a&b"/>`))
		})
	}
}

func TestSpliceShapes(t *testing.T) {
	tests := []struct{ name, page, want string }{
		{"unquoted gets quotes", `<form method=post><input name=SAMLResponse value=abc></form>`, `<form method=post><input name=SAMLResponse value="a&#34;b&lt;"></form>`},
		{"single quotes stay", `<form method=post><input name=SAMLResponse value='abc'></form>`, `<form method=post><input name=SAMLResponse value='a&#34;b&lt;'></form>`},
		{"bare value", `<form method=post><input name=SAMLResponse value></form>`, `<form method=post><input name=SAMLResponse value="a&#34;b&lt;"></form>`},
		{"empty unquoted", `<form method=post><input name=SAMLResponse value=></form>`, `<form method=post><input name=SAMLResponse value="a&#34;b&lt;"></form>`},
		{"missing value", `<form method=post><input name=SAMLResponse></form>`, `<form method=post><input value="a&#34;b&lt;" name=SAMLResponse></form>`},
		{"missing value, self-closing", `<form method=post><input/></form><form method=post><input name="SAMLResponse"/></form>`, `<form method=post><input/></form><form method=post><input value="a&#34;b&lt;" name="SAMLResponse"/></form>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, []byte(tt.page))
			out := Splice([]byte(tt.page), f.Message, `a"b<`)
			if string(out) != tt.want {
				t.Fatalf("got  %s\nwant %s", out, tt.want)
			}
			if g := mustParse(t, out); g.Message.Value != `a"b<` {
				t.Fatalf("reads back %q", g.Message.Value)
			}
		})
	}
}

func TestParsePostRefusals(t *testing.T) {
	const in = `<input type="hidden" name="SAMLResponse" value="PHg+">`
	tests := []struct {
		name, page string
		want       error
	}{
		{"two SAMLResponse", `<form method="post">` + in + in + `</form>`, ErrAmbiguous},
		{"SAMLResponse in two forms", `<form method="post">` + in + `</form><form method="post">` + in + `</form>`, ErrAmbiguous},
		{"SAMLResponse and SAMLRequest", `<form method="post">` + in + `<input name="SAMLRequest" value="PHg+"></form>`, ErrAmbiguous},
		{"a second one outside", in + `<form method="post">` + in + `</form>`, ErrAmbiguous},
		{"name twice", `<form method="post"><input type="hidden" name="SAMLResponse" name="x" value="PHg+"></form>`, ErrAmbiguous},
		{"name twice, SAML second", `<form method="post"><input type="hidden" name="x" name="SAMLResponse" value="PHg+"></form>`, ErrAmbiguous},
		{"value twice", `<form method="post"><input type="hidden" name="SAMLResponse" value="PHg+" VALUE="PHk+"></form>`, ErrAmbiguous},
		{"action twice", `<form method="post" action="https://sp/acs" action="https://evil/">` + in + `</form>`, ErrAmbiguous},
		{"RelayState twice", `<form method="post">` + in + `<input name="RelayState" value="a"><input name="RelayState" value="b"></form>`, ErrAmbiguous},
		{"another letter case", `<form method="post"><input name="samlresponse" value="PHg+"></form>`, ErrAmbiguous},
		{"RelayState in another case", `<form method="post">` + in + `<input name="relaystate" value="a"></form>`, ErrAmbiguous},
		{"in noscript", `<form method="post"><noscript>` + in + `</noscript></form>`, ErrAmbiguous},
		{"in template", `<template><form method="post">` + in + `</form></template>`, ErrAmbiguous},
		{"disabled", `<form method="post"><input disabled name="SAMLResponse" value="PHg+"></form>`, ErrAmbiguous},
		{"checkbox", `<form method="post"><input type="checkbox" name="SAMLResponse" value="PHg+"></form>`, ErrAmbiguous},
		{"textarea", `<form method="post"><textarea name="SAMLResponse">PHg+</textarea></form>`, ErrAmbiguous},
		{"two forms with the id", `<form id="f"></form><form id="f"></form><input form="f" name="SAMLResponse" value="PHg+">`, ErrAmbiguous},
		// In no form as the tokenizer reads it, posted all the same by a
		// browser whose tree builder disagrees (</form> in <select>) or by a
		// script: refused.
		{"outside any form", in, ErrAmbiguous},
		{"form= naming no form", `<form method="post"><input form="nope" name="SAMLResponse" value="PHg+"></form>`, ErrAmbiguous},
		{"none", `<form method="post"><input name="username"></form>`, ErrNoMessage},
		{"only in a comment", `<form method="post"><!--` + in + `--></form>`, ErrNoMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePost([]byte(tt.page), 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("over the cap", func(t *testing.T) {
		page := readPage(t, "keycloak-26.7-post.html")
		if _, err := ParsePost(page, len(page)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v", err)
		}
		if _, err := ParsePost(page, len(page)); err != nil {
			t.Fatalf("at the cap: %v", err)
		}
	})
	t.Run("not base64", func(t *testing.T) {
		f := mustParse(t, []byte(`<form method="post"><input name="SAMLResponse" value="P$g+"></form>`))
		if _, err := f.Decode(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v", err)
		}
	})
}
