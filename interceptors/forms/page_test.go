package forms

import (
	"fmt"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/sandbox"
)

func TestParseSelector(t *testing.T) {
	for in, want := range map[string]Selector{
		"form#kc-form-login":              {Tag: "form", ID: "kc-form-login"},
		".kc-feedback-text":               {Classes: []string{"kc-feedback-text"}},
		"SPAN.a.b":                        {Tag: "span", Classes: []string{"a", "b"}},
		"div#x.alert":                     {Tag: "div", ID: "x", Classes: []string{"alert"}},
		"p":                               {Tag: "p"},
		"#messages.message-text":          {ID: "messages", Classes: []string{"message-text"}},
		`form[name=f]`:                    {Tag: "form", Attrs: map[string]string{"name": "f"}},
		`form.a[name="f"][method='post']`: {Tag: "form", Classes: []string{"a"}, Attrs: map[string]string{"name": "f", "method": "post"}},
	} {
		got, err := ParseSelector(in)
		if err != nil || got.Tag != want.Tag || got.ID != want.ID || strings.Join(got.Classes, ",") != strings.Join(want.Classes, ",") || fmt.Sprint(got.Attrs) != fmt.Sprint(want.Attrs) {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	// A group; a quoted value holds spaces, commas and semicolons.
	g, err := ParseSelector(`div.message-box.error, div[style="border-left: 1px solid #e8e8e8; a, b"] ,p`)
	if err != nil || g.Tag != "div" || g.Or == nil || g.Or.Attrs["style"] != "border-left: 1px solid #e8e8e8; a, b" || g.Or.Or == nil || g.Or.Or.Tag != "p" || g.Or.Or.Or != nil {
		t.Errorf("a group: %+v %v", g, err)
	}
	for _, bad := range []string{"", "div span", "div>span", "a[href]", "a:hover", "#", "div.", "a,", ",a", "*", "a[name]", "a[=x]", "a[name=x", "a [b=c]", "a[b=c d]", `a[b="c]`, `a[b="c"d]`} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

const errorPage = `<html><body><script>var s = '<span class="msg">not this</span>';</script>
<div id="input-error-username"><span class="msg">Invalid <b>username</b> or password.</span></div>
<p class="msg other">second</p><textarea class="msg"><span class="msg">raw</span></textarea>
<form id="f" action="/x?a=1&amp;b=2"><input name="username" value="old"><input name=email><input type=password name=password value=""><input type="hidden" name="username2" value="h"></form></body></html>`

func scan(sel string) *Page {
	return ScanPage([]byte(errorPage), Markup{Form: MustSelector("form#f"), Error: MustSelector(sel), Alert: `<div class="alert">{message}</div>`})
}

func TestScanPage(t *testing.T) {
	p := scan(".msg")
	var got []string
	for _, e := range p.errs {
		got = append(got, e.text)
	}
	want := []string{"Invalid username or password.", "second", `<span class="msg">raw</span>`}
	if strings.Join(got, "|") != strings.Join(want, "|") || p.Message() != want[0] {
		t.Fatalf("got %q", got)
	}
	if !p.HasForm() || ScanPage([]byte(errorPage), Markup{Form: MustSelector("form#g")}).HasForm() {
		t.Fatal("HasForm")
	}
	for sel, want := range map[string]bool{"input[name=email]": true, "input[name=emai]": false, "input[type=password][name=password]": true} {
		if got := ScanPage([]byte(errorPage), Markup{Form: MustSelector(sel)}).HasForm(); got != want {
			t.Errorf("%s: %v", sel, got)
		}
	}
	var names []string
	for _, in := range p.inputs {
		names = append(names, in.name)
	}
	if strings.Join(names, ",") != "username,email" {
		t.Fatalf("inputs %v", names)
	}
}

func TestPageShow(t *testing.T) {
	out, err := scan("span.msg").Show(`Call <us> & "win"`, map[string]string{"username": `a"b`, "email": "e@x", "password": "pw", "username2": "h"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		`<span class="msg">Call &lt;us&gt; &amp; &#34;win&#34;</span></div>`,
		`'<span class="msg">not this</span>'`, // script text is not markup
		`<input name="username" value="a&#34;b">`,
		`<input value="e@x" name=email>`,
		`<input type=password name=password value="">`,
		`<input type="hidden" name="username2" value="h">`,
		`<form id="f" action="/x?a=1&amp;b=2">`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %s:\n%s", want, s)
		}
	}
	// Several elements: the first gets the message, the others are emptied.
	out, _ = scan(".msg").Show("M", nil)
	if !strings.Contains(string(out), `<p class="msg other"></p>`) || strings.Count(string(out), ">M<") != 1 {
		t.Fatalf("%s", out)
	}
	// No error element: the alert goes right before the form.
	out, err = scan(".none").Show("M<", nil)
	if err != nil || !strings.Contains(string(out), `<div class="alert">M&lt;</div><form id="f"`) {
		t.Fatalf("%v\n%s", err, out)
	}
	// Neither: an error.
	if _, err := ScanPage([]byte("<p>x</p>"), Markup{Form: MustSelector("form"), Error: MustSelector(".e")}).Show("M", nil); err != ErrNoForm {
		t.Fatal(err)
	}
	// Nothing to change: every byte as it was.
	out, _ = scan("span.msg").Show("Invalid <b>username</b> or password.", nil)
	if string(out) != strings.Replace(errorPage, "Invalid <b>username</b> or password.", "Invalid &lt;b&gt;username&lt;/b&gt; or password.", 1) {
		t.Fatalf("other bytes changed:\n%s", out)
	}
}

// Markup in a <template> is inert: not the page's error.
func TestScanPageTemplate(t *testing.T) {
	page := `<form id="f"></form><template id="errorTemplate"><div><span class="msg">x</span></div></template><TEMPLATE><p class="msg">y</p></TEMPLATE ><span class="msg">real</span>`
	p := ScanPage([]byte(page), Markup{Form: MustSelector("form#f"), Error: MustSelector(".msg"), Alert: "<b>{message}</b>"})
	if len(p.errs) != 1 || p.Message() != "real" {
		t.Fatalf("%+v", p.errs)
	}
	p = ScanPage([]byte(`<form id="f"></form><template><span class="msg">x</span></template>`), Markup{Form: MustSelector("form#f"), Error: MustSelector(".msg"), Alert: "<b>{message}</b>"})
	if out, _ := p.Show("M", nil); string(out) != `<b>M</b><form id="f"></form><template><span class="msg">x</span></template>` {
		t.Fatalf("%s", out)
	}
}

// A page the IdP never closes, or one with an error element left open,
// reads without a panic.
func TestScanPageTruncated(t *testing.T) {
	for _, page := range []string{`<form id="f"><span class="msg">oops`, `<span class="msg"><span class="msg">x</span>`, `<`, ``, `<span class="msg"`} {
		p := ScanPage([]byte(page), Markup{Form: MustSelector("form#f"), Error: MustSelector(".msg")})
		if _, err := p.Show("M", map[string]string{"a": "b"}); err != nil && err != ErrNoForm {
			t.Fatal(err)
		}
	}
}

func TestRedirectAllowed(t *testing.T) {
	for _, ok := range []string{"https://brand.example/welcome?x=1#y", "/help", "/a/b?c=d", "http://localhost:8080/x", "http://127.0.0.1/x", "http://[::1]/x", "HTTPS://Brand.example/"} {
		if err := RedirectAllowed(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x", "//evil.example", "/\\evil.example",
		"http://evil.example/", "https://a.example/\r\nSet-Cookie: a=b", "https://a.example/\x00", "https://user:pw@a.example/",
		"ftp://a.example/", "relative/path", "https:evil.example", "https://", "\thttps://a.example", "/%0d%0aSet-Cookie:x" + "\n", strings.Repeat("a", 5000)} {
		if err := RedirectAllowed(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEditForm(t *testing.T) {
	p := &post{raw: []byte("b=2&a=1&a%20b=x%2By&c=3"), values: map[string][]string{"b": {"2"}, "a": {"1"}, "a b": {"x+y"}, "c": {"3"}}}
	ops := []sandbox.Op{
		{Object: "form", Method: "setField", Args: []any{"a", "é&="}},
		{Object: "form", Method: "removeField", Args: []any{"a b"}},
		{Object: "form", Method: "setField", Args: []any{"new", "v"}},
		{Object: "form", Method: "setField", Args: []any{"gone", "v"}},
		{Object: "form", Method: "removeField", Args: []any{"gone"}},
	}
	got, changed := editForm(p, ops)
	if !changed || string(got) != "b=2&a=%C3%A9%26%3D&c=3&new=v" {
		t.Fatalf("%v %s", changed, got)
	}
	if p.values.Get("a") != "é&=" || p.values.Has("a b") || p.values.Get("new") != "v" {
		t.Fatalf("values %v", p.values)
	}
	if _, changed := editForm(p, nil); changed {
		t.Fatal("changed without ops")
	}
}

func TestCheckField(t *testing.T) {
	p := &post{fields: Fields{Secrets: []string{"password", "password-confirm", "otp"}}}
	for _, op := range []sandbox.Op{
		{Object: "form", Method: "setField", Args: []any{"otp", "1"}},
		{Object: "form", Method: "setField", Args: []any{"Password", "1"}},
		{Object: "form", Method: "removeField", Args: []any{"password-confirm"}},
		{Object: "form", Method: "setField", Args: []any{"", "1"}},
		{Object: "form", Method: "setField", Args: []any{"x"}},
		{Object: "form", Method: "setField", Args: []any{"x", 1.0}},
		{Object: "form", Method: "setField", Args: []any{"x", strings.Repeat("v", maxFieldValue+1)}},
	} {
		if err := checkField(p, op); err == nil {
			t.Errorf("%+v accepted", op)
		}
	}
	if err := checkField(p, sandbox.Op{Object: "form", Method: "setField", Args: []any{"crm_id", "C-1"}}); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptedUser(t *testing.T) {
	for _, bad := range []any{"x", map[string]any{"password": "x"}, map[string]any{"email": 1.0},
		map[string]any{"attributes": "x"}, map[string]any{"attributes": map[string]any{"a": []any{1.0}}}} {
		if err := checkAccept(sandbox.Op{Method: "accept", Args: []any{bad}}); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	ok, rejected, _, u := verdict([]sandbox.Op{
		{Method: "reject", Args: []any{"no"}},
		{Method: "accept", Args: []any{map[string]any{"first_name": "J", "attributes": map[string]any{"a": "1", "b": []any{"2", "3"}}}}},
	})
	if !ok || rejected {
		t.Fatal("the last verdict does not stand")
	}
	nu := u.user("jane@example.com", "pw")
	if nu.Username != "jane@example.com" || nu.Email != "jane@example.com" || nu.FirstName != "J" || len(nu.Attributes["b"]) != 2 || nu.Password != "pw" {
		t.Fatalf("%+v", nu)
	}
}

// A group picks an element any of its selectors picks, the second too.
func TestScanPageGroup(t *testing.T) {
	page := `<html><body><div style="border-left: 1px solid #e8e8e8; background: #f5f5f5"><h2>Error</h2><p>Incorrect username or password</p></div><form name="f"><input name="username"></form></body></html>`
	p := ScanPage([]byte(page), Markup{Form: MustSelector("form[name=f]"),
		Error: MustSelector(`div.message-box.error, div[style="border-left: 1px solid #e8e8e8; background: #f5f5f5"]`)})
	if len(p.errs) != 1 || p.errs[0].text != "Error Incorrect username or password" {
		t.Fatalf("errors: %+v", p.errs)
	}
}
