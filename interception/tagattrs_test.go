package interception

import "testing"

// TagAttrs keeps every occurrence, with the spans the tokenizer reads.
func TestTagAttrs(t *testing.T) {
	raw := []byte(`<INPUT Name="a" name='b' value=c disabled VALUE = "d">`)
	nameEnd, attrs := TagAttrs(raw, nil)
	if string(raw[1:nameEnd]) != "INPUT" || len(attrs) != 5 {
		t.Fatalf("nameEnd %d attrs %+v", nameEnd, attrs)
	}
	want := []struct {
		key, val string
		quote    byte
		eq       bool
	}{{"name", "a", '"', true}, {"name", "b", '\'', true}, {"value", "c", 0, true}, {"disabled", "", 0, false}, {"value", "d", '"', true}}
	for i, w := range want {
		a := attrs[i]
		if a.Key != w.key || string(raw[a.Start:a.End]) != w.val || a.Quote != w.quote || a.HasEq != w.eq {
			t.Errorf("attr %d: %+v (%q), want %+v", i, a, raw[a.Start:a.End], w)
		}
	}
	// The first value attribute is the one SetInputValues edits; an
	// unterminated quote gives no span.
	if s, e, q, ok := valueSpan(raw); !ok || string(raw[s:e]) != "c" || q {
		t.Fatalf("valueSpan %d %d %v %v", s, e, q, ok)
	}
	if _, _, _, ok := valueSpan([]byte(`<input value="abc`)); ok {
		t.Fatal("unterminated quote spanned")
	}
}

func TestSetValueAttr(t *testing.T) {
	for in, want := range map[string]string{
		`<input name="username" value="old">`:  `<input name="username" value="a&#34;&lt;b&gt;">`,
		`<input name=email>`:                   `<input value="a&#34;&lt;b&gt;" name=email>`,
		`<INPUT TYPE=TEXT NAME="first" VALUE>`: `<INPUT TYPE=TEXT NAME="first" VALUE="a&#34;&lt;b&gt;">`,
		`<input value='x' name=a value="y"/>`:  `<input value="a&#34;&lt;b&gt;" name=a value="y"/>`,
		`<input name=a value=x>`:               `<input name=a value="a&#34;&lt;b&gt;">`,
	} {
		if got := string(SetValueAttr([]byte(in), `a"<b>`)); got != want {
			t.Errorf("%s:\ngot  %s\nwant %s", in, got, want)
		}
	}
}
