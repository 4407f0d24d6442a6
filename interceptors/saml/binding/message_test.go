package binding

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDecodeMessage(t *testing.T) {
	x := bytes.Repeat([]byte(`<samlp:Response ID="_1"/>`), 40)
	enc := base64.StdEncoding.EncodeToString(x)
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteString("\r\n")
	}
	got, err := DecodeMessage(wrapped.String(), 1<<20)
	if err != nil || !bytes.Equal(got, x) {
		t.Fatal(err)
	}
	if back, _ := DecodeMessage(EncodeMessage(x), 1<<20); !bytes.Equal(back, x) {
		t.Fatal("EncodeMessage does not round-trip")
	}
	if _, err := DecodeMessage(enc, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatal(err)
	}
	if _, err := DecodeMessage("!!!!", 100); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func TestInflate(t *testing.T) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(bytes.Repeat([]byte("<a/>"), 1<<18))
	w.Close()
	v := base64.StdEncoding.EncodeToString(b.Bytes())
	if _, err := Inflate(v, 1<<16); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if got, err := Inflate(v, 1<<21); err != nil || len(got) != 4<<18 {
		t.Fatal(len(got), err)
	}
	if _, err := Inflate(base64.StdEncoding.EncodeToString([]byte("not deflate")), 1<<16); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add("PHNhbWxwOlJlc3BvbnNlLz4=")
	f.Add("PHNhbWxw\r\nOlJlc3BvbnNlLz4")
	f.Add("PHNhbWxwOlJlc3BvbnNlLz4=\r\n")
	f.Add("PHNh\nbWxwOlJlc3BvbnNlLz\r\n4\n=")
	f.Add("PHNh bWxwOlJlc3BvbnNlLz4=")
	f.Fuzz(func(t *testing.T, v string) {
		b, err := DecodeMessage(v, 4096)
		if err == nil && len(b) > 4096 {
			t.Fatal("over the cap")
		}
		// The shortcut gives what the long way does, errors included.
		if len(v) <= 4096/3*4*2+1024 {
			lb, lerr := decodeStripped(v, 4096)
			if !bytes.Equal(b, lb) || fmt.Sprint(err) != fmt.Sprint(lerr) {
				t.Fatalf("%q: %q, %v; the long way %q, %v", v, b, err, lb, lerr)
			}
		}
		if b, err := Inflate(v, 4096); err == nil && len(b) > 4096 {
			t.Fatal("over the cap")
		}
	})
}
