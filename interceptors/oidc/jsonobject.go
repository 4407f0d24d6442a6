package oidc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// readObject reads b, which must be one JSON object and nothing after it,
// in a single pass with a pooled tokenizer. member is called with each
// member's (unescaped) name, the decoder positioned at its value, which
// member must read or skip.
func readObject(b []byte, opts []jsontext.Options, member func(d *jsontext.Decoder, name string) error) error {
	r := objectReaders.Get().(*objectReader)
	r.in = *bytes.NewBuffer(b) // read in place, not copied
	r.dec.Reset(&r.in, opts...)
	err := r.read(member)
	// Let go of b before the reader goes back to the pool.
	r.in = bytes.Buffer{}
	r.dec.Reset(&r.in)
	objectReaders.Put(r)
	return err
}

// objectReader is a reusable decoder: a fresh one costs more than the
// whole parse of a typical token response.
type objectReader struct {
	in  bytes.Buffer
	dec jsontext.Decoder
}

var objectReaders = sync.Pool{New: func() any { return new(objectReader) }}

func (r *objectReader) read(member func(d *jsontext.Decoder, name string) error) error {
	d := &r.dec
	if k := d.PeekKind(); k != '{' {
		if _, err := d.ReadToken(); err != nil {
			return err
		}
		return fmt.Errorf("found %v, not an object", k)
	}
	if _, err := d.ReadToken(); err != nil {
		return err
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return err
		}
		// String copies the name: the token is void after the next read.
		if err := member(d, name.String()); err != nil {
			return err
		}
	}
	if _, err := d.ReadToken(); err != nil { // the closing brace
		return err
	}
	// Nothing but whitespace may follow the object.
	if _, err := d.ReadToken(); err != io.EOF {
		if err == nil {
			return errors.New("data after the JSON object")
		}
		return err
	}
	return nil
}

// stringValue is the string a member's raw value holds, or null. Anything
// else, or a string that is not valid UTF-8, is an error naming the member.
func stringValue(name string, v jsontext.Value) (s string, null bool, err error) {
	switch v.Kind() {
	case 'n':
		return "", true, nil
	case '"':
	default:
		return "", false, fmt.Errorf("%s is a JSON %v, not a string", name, v.Kind())
	}
	if bytes.IndexByte(v, '\\') < 0 {
		s = string(v[1 : len(v)-1]) // the usual token: no escapes
	} else {
		u, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return "", false, err
		}
		s = string(u)
	}
	if !utf8.ValidString(s) {
		return "", false, fmt.Errorf("%s is not valid UTF-8", name)
	}
	return s, false, nil
}
