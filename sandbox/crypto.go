package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/dop251/goja"
	"github.com/google/uuid"
)

// newCrypto builds the crypto global. Digests are synchronous and return
// encoded strings: what hooks need for signatures and ids, without the
// ArrayBuffer ceremony of WebCrypto.
//
//	crypto.randomUUID()
//	crypto.getRandomValues(new Uint8Array(16))
//	crypto.digest("SHA-256", data, "hex")       // hex | base64 | base64url
//	crypto.hmac("SHA-256", key, data, "base64url")
//	crypto.timingSafeEqual(a, b)
func (rt *runtime) newCrypto() *goja.Object {
	o := rt.vm.NewObject()
	_ = o.Set("randomUUID", func() string { return uuid.NewString() })
	_ = o.Set("getRandomValues", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		buf, ok := fc.Argument(0).Export().([]byte)
		if !ok {
			panic(c.typeError("crypto.getRandomValues: argument must be a Uint8Array"))
		}
		if len(buf) > 65536 {
			panic(c.typeError("crypto.getRandomValues: at most 65536 bytes"))
		}
		_, _ = rand.Read(buf)
		return fc.Argument(0)
	})
	_ = o.Set("digest", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		h := c.hashFunc(fc, "crypto.digest")()
		h.Write(c.argBytes(fc, 1, "crypto.digest"))
		return rt.vm.ToValue(c.encode(h.Sum(nil), fc.Argument(2), "crypto.digest"))
	})
	_ = o.Set("hmac", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		newHash := c.hashFunc(fc, "crypto.hmac")
		m := hmac.New(newHash, c.argBytes(fc, 1, "crypto.hmac"))
		m.Write(c.argBytes(fc, 2, "crypto.hmac"))
		return rt.vm.ToValue(c.encode(m.Sum(nil), fc.Argument(3), "crypto.hmac"))
	})
	_ = o.Set("timingSafeEqual", func(fc goja.FunctionCall) goja.Value {
		c := rt.call()
		a := c.argBytes(fc, 0, "crypto.timingSafeEqual")
		b := c.argBytes(fc, 1, "crypto.timingSafeEqual")
		return rt.vm.ToValue(subtle.ConstantTimeCompare(a, b) == 1)
	})
	return o
}

func (c *call) hashFunc(fc goja.FunctionCall, fn string) func() hash.Hash {
	switch strings.ToUpper(strings.ReplaceAll(c.argString(fc, 0, fn), "-", "")) {
	case "SHA256":
		return sha256.New
	case "SHA384":
		return sha512.New384
	case "SHA512":
		return sha512.New
	}
	panic(c.typeError("%s: algorithm must be SHA-256, SHA-384 or SHA-512", fn))
}

// argBytes takes a string (as UTF-8) or a byte array/buffer.
func (c *call) argBytes(fc goja.FunctionCall, i int, fn string) []byte {
	switch v := fc.Argument(i).Export().(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	case goja.ArrayBuffer:
		return v.Bytes()
	}
	panic(c.typeError("%s: argument %d must be a string or a Uint8Array", fn, i+1))
}

func (c *call) encode(sum []byte, enc goja.Value, fn string) string {
	name := "hex"
	if !goja.IsUndefined(enc) {
		name = enc.String()
	}
	switch name {
	case "hex":
		return hex.EncodeToString(sum)
	case "base64":
		return base64.StdEncoding.EncodeToString(sum)
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(sum)
	}
	panic(c.typeError("%s: encoding must be hex, base64 or base64url", fn))
}
