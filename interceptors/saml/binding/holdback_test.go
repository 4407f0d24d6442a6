package binding

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	xhtml "golang.org/x/net/html"

	"github.com/idphooks/idphooks/interception"
)

// sameAsWhole checks that holding values back, with several policies,
// reads page as the tokenizer reading all of it does.
func sameAsWhole(t testing.TB, page []byte) (*PostForm, error) {
	t.Helper()
	want, werr := parsePost(page, 0, 0)
	policies := []struct{ min, dropped int }{{minHeld, maxDropped}, {1, 0}, {2, 2}}
	if len(page) <= 4<<10 {
		// Every candidate tried, however many are dropped: a pass each.
		policies = append(policies, struct{ min, dropped int }{1, -1})
	}
	for _, pol := range policies {
		got, err := parsePost(page, pol.min, pol.dropped)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("holding back %+v: %+v, %v\nwhole: %+v, %v", pol, got, err, want, werr)
		}
	}
	return want, werr
}

// The message of a real page is held back, and what is read is the same.
func TestHoldBackKeycloak(t *testing.T) {
	page := readPage(t, "keycloak-26.7-post.html")
	f, err := sameAsWhole(t, page)
	if err != nil {
		t.Fatal(err)
	}
	if cuts := holdBack(page, minHeld); len(cuts) != 1 || cuts[0] != (cut{f.Message.Start, f.Message.End}) {
		t.Fatalf("held back %v, the message is at %d..%d", cuts, f.Message.Start, f.Message.End)
	}
	p := postParser{page: page, z: xhtml.NewTokenizer(newHeldReader(page, holdBack(page, minHeld))), cuts: holdBack(page, minHeld)}
	if err := p.scan(); err != nil || p.next != 1 {
		t.Fatalf("the held message was not confirmed: %v", err)
	}
}

// SimpleSAMLphp wraps its base64 with CRLF: held back too, its newlines
// converted as the tokenizer converts them.
func TestHoldBackCRLF(t *testing.T) {
	page := readPage(t, "simplesamlphp-1.19-post.html")
	f, err := sameAsWhole(t, page)
	if err != nil {
		t.Fatal(err)
	}
	if cuts := holdBack(page, minHeld); len(cuts) != 1 || cuts[0] != (cut{f.Message.Start, f.Message.End}) {
		t.Fatalf("held back %v", cuts)
	}
	if strings.Contains(f.Message.Value, "\r") || !strings.Contains(f.Message.Value, "\n") {
		t.Fatal("newlines not converted")
	}
}

// What only looks like a long value (in a comment, a script, a style,
// RCDATA, an unquoted value, an end tag, a repeated attribute, after
// <plaintext>) is read by the tokenizer as it is; the page reads the same.
func TestHoldBackRefused(t *testing.T) {
	long := strings.Repeat("PHg+PC94Pg==", 60) // 720 bytes
	in := `<input type="hidden" name="SAMLResponse" value="` + long + `">`
	pages := []string{
		`<!-- <input name="SAMLResponse" value="` + long + `"> --><form method="post"><input name="SAMLResponse" value="PHg+"></form>`,
		`<!-- a=" --><form method="post">` + in + `</form>`,
		`<script>var a = "` + long + `"; var b = '<input name="SAMLResponse" value="` + long + `">';</script><form method="post">` + in + `</form>`,
		`<script>var a = "</script><form method="post">` + in + `</form>`,
		`<style>a { b: url("` + long + `") }</style><form method="post">` + in + `</form>`,
		`<form method="post"><textarea x="a">b="` + long + `"</textarea>` + in + `</form>`,
		`<title>x="` + long + `"</title><form method="post">` + in + `</form>`,
		`<form method="post"><div title=a="` + long + `">` + in + `</form>`,
		`<form method="post"></div x="` + long + `">` + in + `</form>`,
		`<form method="post"><input name="SAMLResponse" value="` + long + `" value="` + long + `"></form>`,
		`<form method="post"><input name="SAMLResponse" value="PHg+" value="` + long + `"></form>`,
		`<form method="post"><input name="SAMLResponse" value="held" data-x="` + long + `"></form>`,
		`<form method="post"><input name="SAMLResponse" value=` + long + `"` + long + `"></form>`,
		`<form method="post">` + in + `<plaintext>x="` + long + `"</form>`,
		`<form method="post"><input name="SAMLResponse" value="` + long + `"` + long + `"></form>`,
		`<form method="post"><input name="SAMLResponse" value = '` + long + `"' data-x="` + long + `'"></form>`,
		`<form method="post"><input name="SAMLResponse" value="` + long + "\r\r\n\r" + long + `"></form>`,
		`<form method="post" action="` + long + `"><input name="RelayState" value='` + long + `'>` + in + `</form>`,
		`<form method="post"><input name="SAMLResponse" value="` + long,
	}
	for i, s := range pages {
		t.Run(fmt.Sprint(i), func(t *testing.T) { sameAsWhole(t, []byte(s)) })
	}
}

// heldAttrValue converts newlines as the tokenizer does in a value.
func TestHeldAttrValue(t *testing.T) {
	for _, v := range []string{"", "a", "\r", "\n", "\r\n", "\n\r", "\r\r\n", "a\r\nb\rc\n\r\r", "\r\n\r\n"} {
		z := xhtml.NewTokenizer(strings.NewReader(`<a b="` + v + `">`))
		z.Next()
		_, want, _ := z.TagAttr()
		if got := heldAttrValue([]byte(v)); !bytes.Equal(got, want) {
			t.Errorf("%q: %q, the tokenizer %q", v, got, want)
		}
	}
}

// confirm takes the tokenizer's word too: TagAttrs' span alone, or a tag
// the two read differently, confirms nothing.
func TestConfirmAsksTheTokenizer(t *testing.T) {
	page := []byte(`<a b="` + strings.Repeat("x", 600) + `">`)
	c := cut{6, 606}
	for _, tt := range []struct {
		val  string
		ok   bool
		want bool
	}{{heldValue, true, true}, {"x", true, false}, {heldValue, false, false}} {
		p := postParser{page: page}
		_, p.raw = interception.TagAttrs(page, nil)
		p.attrs = []attr{{key: []byte("b"), val: []byte(tt.val), at: 0}}
		if got := p.confirm(0, []cut{c}, tagRead{ok: tt.ok}); got != tt.want {
			t.Errorf("value %q, readings agree %v: confirmed %v", tt.val, tt.ok, got)
		}
	}
}
