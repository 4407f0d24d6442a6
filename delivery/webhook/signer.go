package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Signer signs messages with every secret and key of one endpoint. It is
// safe for concurrent use.
type Signer struct {
	secrets []Secret
	keys    []SigningKey
}

// NewSigner parses an endpoint's secrets (whsec_, all of them sign: list
// the new one beside the old while receivers move over) and signing keys
// (whsk_, Ed25519). At least one of either is needed: an unsigned webhook
// cannot be told from a forged one. Errors name the entry at fault by its
// position, never by its value.
func NewSigner(secrets, signingKeys []string) (*Signer, error) {
	if len(secrets) == 0 && len(signingKeys) == 0 {
		return nil, errors.New("a webhook needs a secret (whsec_…) or a signing key (whsk_…): receivers could not tell its deliveries from forged ones")
	}
	s := &Signer{}
	for i, v := range secrets {
		sec, err := ParseSecret(v)
		if err != nil {
			return nil, fmt.Errorf("%s%w", position("secret", i, len(secrets)), err)
		}
		s.secrets = append(s.secrets, sec)
	}
	for i, v := range signingKeys {
		k, err := ParseSigningKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s%w", position("signing key", i, len(signingKeys)), err)
		}
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// position says which entry of a list an error is about, when there are
// several.
func position(what string, i, n int) string {
	if n < 2 {
		return ""
	}
	return fmt.Sprintf("%s %d of %d: ", what, i+1, n)
}

// CheckID refuses a webhook-id the signature scheme cannot carry: the
// signed content is "id.timestamp.body", so an id with a full stop could
// be shifted into the timestamp (the spec forbids it), and header
// syntax forbids control characters.
func CheckID(id string) error {
	if id == "" {
		return errors.New("webhook-id is empty")
	}
	if len(id) > 256 {
		return errors.New("webhook-id longer than 256 bytes")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '.' || c <= ' ' || c >= 0x7f {
			return fmt.Errorf("webhook-id %q: only printable ASCII without spaces or full stops", id)
		}
	}
	return nil
}

// Signature is the webhook-signature value of one message: "v1,<mac>"
// per secret, then "v1a,<sig>" per key, space-separated.
func (s *Signer) Signature(id string, ts time.Time, body []byte) string {
	content := signedContent(id, ts, body)
	var b strings.Builder
	for _, sec := range s.secrets {
		mac := hmac.New(sha256.New, sec.key)
		mac.Write(content)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	for _, k := range s.keys {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1a,")
		b.WriteString(base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, content)))
	}
	return b.String()
}

// Sign sets the three Standard Webhooks headers on h.
func (s *Signer) Sign(h http.Header, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, s.Signature(id, ts, body))
}

// PublicKeys are the whpk_ keys receivers verify v1a signatures with,
// one per signing key, in order: what the admin API and README publish.
func (s *Signer) PublicKeys() []string {
	out := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, k.PublicKey())
	}
	return out
}

func signedContent(id string, ts time.Time, body []byte) []byte {
	t := strconv.FormatInt(ts.Unix(), 10)
	out := make([]byte, 0, len(id)+len(t)+len(body)+2)
	out = append(out, id...)
	out = append(out, '.')
	out = append(out, t...)
	out = append(out, '.')
	return append(out, body...)
}
