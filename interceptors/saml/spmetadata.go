package saml

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/upstream"
)

// SPEncryption is what an SP's metadata says of encrypting to it.
type SPEncryption struct {
	// Certificate is its encryption key's (use="encryption", else the
	// first KeyDescriptor without a use); nil when it names none.
	Certificate *x509.Certificate
	// Algorithms are the ones to encrypt with, as Encryption.Algorithms:
	// one data algorithm and one key transport chosen from its
	// EncryptionMethods, or nil for the defaults when it lists none.
	Algorithms []string
	// Listed are the EncryptionMethods as the metadata lists them.
	Listed []string
}

// dataPreference is the order data algorithms are chosen in from what an
// SP lists: AES-GCM first (AES-CBC has no integrity of its own, so it is
// used only when the SP lists no GCM one).
var dataPreference = []string{AES256GCM, AES192GCM, AES128GCM, AES256CBC, AES192CBC, AES128CBC}

// unusableData and unusableKeyTransport are encryption algorithms an SP
// may list that idphooks does not encrypt with.
var (
	unusableData         = []string{NSXMLEnc + "tripledes-cbc"}
	unusableKeyTransport = []string{RSA15, NSXMLEnc + "kw-aes128", NSXMLEnc + "kw-aes192", NSXMLEnc + "kw-aes256", NSXMLEnc + "kw-tripledes"}
)

// ParseSPEncryption reads the encryption key and algorithms of the SP
// entityID from its metadata (an EntityDescriptor, or one of an
// EntitiesDescriptor), with the same safe parsing as messages. Of the
// EncryptionMethods listed with the key, the data algorithm is the first
// of dataPreference listed, and the key transport XML Encryption 1.1's
// rsa-oaep (SHA-256 and MGF1-SHA-256, unless it states other hashes)
// when listed, else rsa-oaep-mgf1p; a kind the SP lists none of gets the
// default. An SP listing algorithms of a kind, none of which idphooks
// encrypts with (tripledes-cbc, rsa-1_5), is an ErrAlgorithm (returned
// with the certificate): what it would be sent it says it cannot read.
func ParseSPEncryption(raw []byte, entityID string) (*SPEncryption, error) {
	doc, err := Parse(raw, 0)
	if err != nil {
		return nil, err
	}
	ed, err := spEntity(doc.Root(), entityID)
	if err != nil {
		return nil, err
	}
	var kd *etree.Element
	for _, use := range []string{"encryption", ""} {
		for _, k := range children(child(ed, NSMetadata, "SPSSODescriptor"), NSMetadata, "KeyDescriptor") {
			if strings.TrimSpace(k.SelectAttrValue("use", "")) == use && kd == nil {
				kd = k
			}
		}
	}
	out := &SPEncryption{}
	if kd == nil {
		return out, nil
	}
	certs, err := keyCertificates(kd)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: SP metadata of %s: the encryption KeyDescriptor holds no X509Certificate", ErrStructure, entityID)
	}
	out.Certificate = certs[0]
	// A kind the SP lists only unusable algorithms of is an error; what
	// is not an encryption algorithm of XML Encryption (a digest, some
	// SP's own URI) is left out.
	var data, kt, refused []string
	for _, em := range children(kd, NSMetadata, "EncryptionMethod") {
		a := strings.TrimSpace(em.SelectAttrValue("Algorithm", ""))
		out.Listed = append(out.Listed, a)
		switch {
		case blockCiphers[a] != nil, a == RSAOAEPMGF1P:
		case a == RSAOAEP && !oaepAsWeWrite(em):
			refused = append(refused, a+" with other hashes than SHA-256")
			a = ""
		case slices.Contains(unusableData, a), slices.Contains(unusableKeyTransport, a):
			refused = append(refused, a)
		case a != RSAOAEP:
			continue
		}
		switch {
		case blockCiphers[a] != nil, slices.Contains(unusableData, a):
			data = append(data, a)
		default:
			kt = append(kt, a)
		}
	}
	pick := func(kind string, listed []string, prefer []string, def string) (string, error) {
		if len(listed) == 0 {
			return def, nil
		}
		for _, p := range prefer {
			if slices.Contains(listed, p) {
				return p, nil
			}
		}
		return "", fmt.Errorf("%w: SP metadata of %s lists no %s idphooks encrypts with (%s); set encryption_algorithms", ErrAlgorithm, entityID, kind, strings.Join(refused, ", "))
	}
	// The certificate comes with an ErrAlgorithm: algorithms the operator
	// sets may stand in for what the SP lists.
	d, err := pick("data encryption", data, dataPreference, AES256GCM)
	if err != nil {
		return out, err
	}
	k, err := pick("key transport", kt, []string{RSAOAEP, RSAOAEPMGF1P}, RSAOAEPMGF1P)
	if err != nil {
		return out, err
	}
	if len(data)+len(kt) > 0 {
		out.Algorithms = []string{d, k}
	}
	return out, nil
}

// oaepAsWeWrite reports whether an rsa-oaep EncryptionMethod allows the
// hashes idphooks encrypts with (SHA-256 digest and MGF1-SHA-256): an SP
// that states others reads only those.
func oaepAsWeWrite(em *etree.Element) bool {
	for _, c := range em.ChildElements() {
		a := c.SelectAttrValue("Algorithm", "")
		switch {
		case is(c, NSDSig, "DigestMethod") && a != DigestSHA256:
			return false
		case is(c, NSXMLEnc11, "MGF") && a != NSXMLEnc11+"mgf1sha256":
			return false
		}
	}
	return true
}

// spEntity finds the EntityDescriptor of entityID holding an
// SPSSODescriptor: the root, or the one of an EntitiesDescriptor.
func spEntity(root *etree.Element, entityID string) (*etree.Element, error) {
	if root == nil || root.NamespaceURI() != NSMetadata {
		return nil, fmt.Errorf("%w: not SAML metadata", ErrStructure)
	}
	var cands []*etree.Element
	switch root.Tag {
	case "EntityDescriptor":
		cands = []*etree.Element{root}
	case "EntitiesDescriptor":
		cands = children(root, NSMetadata, "EntityDescriptor")
	default:
		return nil, fmt.Errorf("%w: metadata root is %s", ErrStructure, root.Tag)
	}
	var found *etree.Element
	var ids []string
	for _, ed := range cands {
		id := strings.TrimSpace(ed.SelectAttrValue("entityID", ""))
		ids = append(ids, id)
		if id != entityID || child(ed, NSMetadata, "SPSSODescriptor") == nil {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: SP metadata describes %s twice", ErrStructure, entityID)
		}
		found = ed
	}
	if found == nil {
		return nil, fmt.Errorf("%w: SP metadata has no SPSSODescriptor for %s (entities: %s)", ErrStructure, entityID, strings.Join(ids, ", "))
	}
	return found, nil
}

// SPMetadata is an SP's metadata that idphooks fetches itself from a URL,
// cached as the IdP's is (an hour fresh, the copy in hand kept while a
// refetch fails, refetches backing off), for the SP's encryption key and
// algorithms.
type SPMetadata struct {
	// URL is where it is fetched.
	URL string

	doc upstream.Document[*SPEncryption]
}

// SPMetadataOptions are NewSPMetadataWith's.
type SPMetadataOptions struct {
	// MaxBody caps the fetch (1 MiB when 0).
	MaxBody int64
	// AlgorithmsGiven says the operator set the algorithms: an
	// ErrAlgorithm of what the metadata lists is then ignored.
	AlgorithmsGiven bool
	// Trust says how the document must be signed (see
	// MetadataTrust.VerifySPMetadata); by default it is used as fetched.
	Trust MetadataTrust
	// Logger is told of each fetched document Trust refuses; nil:
	// nothing is logged.
	Logger *zap.Logger
}

// NewSPMetadata returns the metadata of SP entityID at url, an absolute
// http(s) URL, read with ParseSPEncryption (an ErrAlgorithm is ignored
// when algorithmsGiven: the operator's stand in). maxBody caps the fetch
// (1 MiB when 0). Nothing is fetched until first use or Check.
func NewSPMetadata(url, entityID string, maxBody int64, algorithmsGiven bool) (*SPMetadata, error) {
	return NewSPMetadataWith(url, entityID, SPMetadataOptions{MaxBody: maxBody, AlgorithmsGiven: algorithmsGiven})
}

// NewSPMetadataWith is NewSPMetadata with options. A document o.Trust
// refuses is treated as a failed fetch: with no copy in hand, messages to
// the SP get the "try again" page (errSPMetadata), since how to encrypt
// to it cannot be told; with one, that copy stays in use. Either way
// o.Logger gets an error line per refused document.
func NewSPMetadataWith(url, entityID string, o SPMetadataOptions) (*SPMetadata, error) {
	if err := upstream.CheckAbsolute(url); err != nil {
		return nil, err
	}
	maxBody := o.MaxBody
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	client := upstream.NewClient(url, maxBody)
	m := &SPMetadata{URL: url}
	m.doc.Fetch = func(ctx context.Context) (*SPEncryption, error) {
		raw, err := client.Get(ctx, url, metadataAccept)
		if err != nil {
			return nil, err
		}
		if raw, err = o.Trust.VerifySPMetadata(raw, entityID); err != nil {
			err = fmt.Errorf("SP metadata at %s: %w", url, err)
			if o.Logger != nil {
				msg := "SP metadata refused: it is not signed as metadata_certificate says; SAML messages to this SP are refused until a fetched copy verifies"
				if _, held := m.doc.Cached(); held {
					msg = "SP metadata refused: it is not signed as metadata_certificate says; the copy fetched before stays in use"
				}
				o.Logger.Error(msg, zap.String("sp", entityID), zap.Error(err))
			}
			return nil, err
		}
		e, err := ParseSPEncryption(raw, entityID)
		if err != nil && !(o.AlgorithmsGiven && errors.Is(err, ErrAlgorithm)) {
			return nil, fmt.Errorf("SP metadata at %s: %w", url, err)
		}
		return e, nil
	}
	return m, nil
}

// Encryption returns what the SP's metadata says, fetching it when needed.
func (m *SPMetadata) Encryption(ctx context.Context) (*SPEncryption, error) {
	return m.doc.Get(ctx)
}

// Check fetches the metadata now, so a wrong URL shows at start.
func (m *SPMetadata) Check(ctx context.Context) error {
	_, err := m.doc.Get(ctx)
	return err
}
