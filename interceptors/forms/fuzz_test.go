package forms

import (
	"bytes"
	"testing"

	xhtml "golang.org/x/net/html"
)

// FuzzScanPage: any page an IdP sends is read without a panic, and the
// page with a message shown keeps every byte before the first edit.
func FuzzScanPage(f *testing.F) {
	for _, seed := range []string{errorPage, `<form id="f"><span class="msg">x</span></form>`, `<template><span class="msg">`,
		`<form id=f><input name=username value=a&amp;b><input name=email>`, `<span class="msg"><span class="msg"></span>`, `<!--<form id="f">-->`, ``} {
		f.Add([]byte(seed))
	}
	m := Markup{Form: MustSelector("form#f"), Error: MustSelector(".msg"), Alert: `<p>{message}</p>`}
	f.Fuzz(func(t *testing.T, page []byte) {
		p := ScanPage(page, m)
		_ = p.Message()
		out, err := p.Show("M<&>", map[string]string{"username": `"x'`, "email": "e"})
		if err != nil {
			if err != ErrNoForm {
				t.Fatal(err)
			}
			return
		}
		first := len(page)
		for _, e := range p.errs {
			first = min(first, e.start)
		}
		for _, in := range p.inputs {
			first = min(first, in.start)
		}
		if len(p.errs) == 0 && p.formAt >= 0 {
			first = min(first, p.formAt)
		}
		if !bytes.Equal(out[:first], page[:first]) {
			t.Fatalf("bytes before the first edit changed")
		}
	})
}

// FuzzPicker: a tag a selector picks is never one its picker ruled out
// from the tag's bytes, entities or not.
func FuzzPicker(f *testing.F) {
	for _, seed := range []string{errorPage, `<a href="?a=1&amp;b=2" class="msg">`, `<span class="m&#115;g">`, `<span class=&quot;msg>`,
		`<b class="a&amp;b"><i id="f&#x6f;rm" class='msg'><form id=f name=f>`, `<p class="msg&lt;">x</p><input name="x&amp;" class=msg>`} {
		f.Add([]byte(seed))
	}
	sels := []Selector{MustSelector(".msg"), MustSelector("form#f"), MustSelector("b.a&b"), MustSelector("input[name=x&]"),
		MustSelector("i#form.msg"), MustSelector("p.msg<"), MustSelector("[class=msg]"),
		MustSelector(`form#f, span.msg, div[style="a: b; c"]`)}
	f.Fuzz(func(t *testing.T, page []byte) {
		for _, sel := range sels {
			pk := newPicker(sel, page)
			z := xhtml.NewTokenizer(bytes.NewReader(page))
			offset := 0
			for {
				tt := z.Next()
				if tt == xhtml.ErrorToken {
					break
				}
				n := len(z.Raw())
				if tt == xhtml.StartTagToken || tt == xhtml.SelfClosingTagToken {
					raw := page[offset : offset+n]
					var ti tagInfo
					ti.read(raw)
					if may := pk.may(rawTagName(raw), offset, offset+n); ti.is(sel) && !may {
						t.Fatalf("%+v picks %q, its picker ruled it out", sel, raw)
					}
				}
				offset += n
			}
		}
	})
}
