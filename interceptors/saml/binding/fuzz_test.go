package binding

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParsePost: no page crashes or hangs the parser, and a message it
// finds can be replaced with nothing else changing.
func FuzzParsePost(f *testing.F) {
	f.Add(readPage(f, "keycloak-26.7-post.html"))
	f.Add(readPage(f, "simplesamlphp-1.19-post.html"))
	f.Fuzz(func(t *testing.T, page []byte) {
		pf, err := ParsePost(page, 64<<10)
		// Values held back from the tokenizer, even the shortest, read as
		// the tokenizer reads the whole page.
		if len(page) <= 64<<10 {
			sameAsWhole(t, page)
		}
		if err != nil {
			if !errors.Is(err, ErrAmbiguous) && !errors.Is(err, ErrNoMessage) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		m := pf.Message
		if m.Start < 0 || m.Start > m.End || m.End > len(page) {
			t.Fatalf("span %d..%d of %d", m.Start, m.End, len(page))
		}
		out := pf.SetMessage(page, []byte("<x/>"))
		if !bytes.Equal(out, Splice(page, m, "PHgvPg==")) {
			t.Fatal("SetMessage and Splice of its base64 differ")
		}
		if !bytes.Equal(out[:m.Start], page[:m.Start]) || !bytes.HasSuffix(out, page[m.End:]) {
			t.Fatal("bytes outside the message changed")
		}
		g, err := ParsePost(out, 128<<10)
		if err != nil {
			t.Fatalf("the spliced page no longer parses: %v", err)
		}
		if b, err := g.Decode(); err != nil || string(b) != "<x/>" {
			t.Fatalf("the spliced page reads %q, %v", b, err)
		}
	})
}

// FuzzParseRedirect: no query crashes the decoder or inflates past its cap.
func FuzzParseRedirect(f *testing.F) {
	f.Add("SAMLRequest=" + deflated(f, []byte(logoutRequest)) + "&RelayState=abc&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=AAAA")
	f.Fuzz(func(t *testing.T, q string) {
		r, err := ParseRedirect(q, 4096)
		if err != nil {
			return
		}
		if len(r.Message) > 4096 {
			t.Fatalf("inflated to %d bytes", len(r.Message))
		}
		if r.Signature != nil {
			r.Verify(nil, nil)
		}
	})
}
