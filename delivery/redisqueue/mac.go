package redisqueue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"

	"github.com/idphooks/idphooks/delivery"
)

// macLabel derives the queue's MAC key from the secret, apart from the
// swap table's keys.
const macLabel = "idphooks queue mac v1"

// macKey computes the MAC that makes a message in Redis one an instance
// wrote: HMAC-SHA256 over what the receiver gets and whom it goes to
// (id, receiver, event, time, payload), each length-prefixed. Deliveries
// are signed by idphooks (Standard Webhooks, Security Event Tokens):
// without the MAC, anyone who can write to Redis could have idphooks
// sign and send an event that never happened. Attempts, errors and due
// times are the queue's bookkeeping and change without it.
type macKey struct {
	pool sync.Pool // of hash.Hash keyed with the derived key
}

func newMACKey(secret []byte) *macKey {
	if len(secret) == 0 {
		return nil
	}
	d := hmac.New(sha256.New, secret)
	d.Write([]byte(macLabel))
	key := d.Sum(nil)
	k := &macKey{}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	return k
}

// sum is m's MAC, base64; "" without a key.
func (k *macKey) sum(m delivery.Message) string {
	if k == nil {
		return ""
	}
	h := k.pool.Get().(hash.Hash)
	defer k.pool.Put(h)
	h.Reset()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(m.ID))
	field([]byte(m.Receiver))
	field([]byte(m.Event))
	binary.BigEndian.PutUint64(n[:], uint64(nanos(m.Time)))
	h.Write(n[:])
	field(m.Payload)
	return base64.RawStdEncoding.EncodeToString(h.Sum(nil))
}

// ok reports whether got is m's MAC; always true without a key.
func (k *macKey) ok(m delivery.Message, got string) bool {
	if k == nil {
		return true
	}
	return hmac.Equal([]byte(k.sum(m)), []byte(got))
}
