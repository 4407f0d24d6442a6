package forms

import (
	"bytes"
	"testing"
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
