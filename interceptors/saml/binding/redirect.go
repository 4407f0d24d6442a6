package binding

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"

	"github.com/idphooks/idphooks/interception"
)

// DefaultMaxMessage is the inflated size ParseRedirect refuses above when
// given no cap. A query is a few kB; DEFLATE can make that anything.
const DefaultMaxMessage = 256 << 10

// The parameters of the Redirect binding. SAMLEncoding, when sent, must
// name DEFLATE (§3.4.4).
var redirectParams = []string{nameRequest, nameResponse, nameRelay, "SigAlg", "Signature", "SAMLEncoding"}

const deflateEncoding = "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE"

// Redirect is a message of the HTTP-Redirect binding, read from a query.
type Redirect struct {
	// Name is SAMLRequest or SAMLResponse.
	Name string
	// Message is the XML, inflated.
	Message []byte
	// RelayState is decoded; HasRelayState tells an empty one from none.
	RelayState    string
	HasRelayState bool
	// SigAlg and Signature are empty when the query is unsigned.
	SigAlg    string
	Signature []byte

	// The values as they stand in the query, still URL-encoded: the
	// signature is over these (§3.4.4.1).
	rawMessage, rawRelayState, rawSigAlg string
}

// RawRelayState returns RelayState as it stood in the query, still
// URL-encoded, to pass on byte for byte (to SignRedirect, say).
func (r *Redirect) RawRelayState() string { return r.rawRelayState }

// ParseRedirect reads a Redirect binding query (the raw, still encoded
// query string). Each parameter of the binding may appear once, in its
// own letter case only (interception.Single; the error is then
// interception's 400). The message is base64 and raw DEFLATE, and is
// refused with ErrTooLarge once inflated beyond max bytes
// (DefaultMaxMessage when max <= 0). Other parameters are left alone.
func ParseRedirect(rawQuery string, max int) (*Redirect, error) {
	if max <= 0 {
		max = DefaultMaxMessage
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrMalformed, err)
	}
	if err := interception.Single(redirectParams, q); err != nil {
		return nil, interception.RepeatedError(err)
	}
	r := &Redirect{}
	_, req := q[nameRequest]
	_, resp := q[nameResponse]
	switch {
	case req && resp:
		return nil, fmt.Errorf("%w: the query carries both SAMLRequest and SAMLResponse", ErrAmbiguous)
	case req:
		r.Name = nameRequest
	case resp:
		r.Name = nameResponse
	default:
		return nil, fmt.Errorf("%w: the query carries no SAMLRequest or SAMLResponse", ErrNoMessage)
	}
	if enc, ok := q["SAMLEncoding"]; ok && enc[0] != deflateEncoding {
		return nil, fmt.Errorf("%w: SAMLEncoding %q is not DEFLATE", ErrMalformed, enc[0])
	}
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		switch key, _ := url.QueryUnescape(k); key {
		case r.Name:
			r.rawMessage = v
		case nameRelay:
			r.rawRelayState, r.HasRelayState = v, true
		case "SigAlg":
			r.rawSigAlg = v
		}
	}
	r.RelayState = q.Get(nameRelay)
	r.SigAlg = q.Get("SigAlg")
	if sig := q.Get("Signature"); sig != "" || r.SigAlg != "" {
		if sig == "" || r.SigAlg == "" {
			return nil, fmt.Errorf("%w: SigAlg and Signature come together", ErrMalformed)
		}
		if r.Signature, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return nil, fmt.Errorf("%w: Signature is not base64: %v", ErrMalformed, err)
		}
	}
	if r.Message, err = Inflate(q.Get(r.Name), max); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	return r, nil
}

// signedOctets is what the query signature covers (§3.4.4.1): the
// parameters in this order, their values as the sender encoded them.
func signedOctets(name, rawMessage, rawRelayState string, hasRelayState bool, rawSigAlg string) []byte {
	var b strings.Builder
	b.Grow(len(name) + len(rawMessage) + len(rawRelayState) + len(rawSigAlg) + 24)
	b.WriteString(name)
	b.WriteByte('=')
	b.WriteString(rawMessage)
	if hasRelayState {
		b.WriteString("&RelayState=")
		b.WriteString(rawRelayState)
	}
	b.WriteString("&SigAlg=")
	b.WriteString(rawSigAlg)
	return []byte(b.String())
}

// Verify checks the query's signature against certs, under the allow-list
// allowed of SigAlg identifiers (DefaultAlgorithms when nil). It returns
// ErrUnsigned, ErrAlgorithm or ErrSignature. ECDSA signatures are read as
// XML DSig writes them (r‖s) or in ASN.1, as Java's JCA does.
// Certificates are taken as keys: their dates and issuers are not checked,
// as SAML metadata's are not.
func (r *Redirect) Verify(certs []*x509.Certificate, allowed []string) error {
	if r.SigAlg == "" {
		return ErrUnsigned
	}
	alg, ok := lookupAlg(r.SigAlg, allowed)
	if !ok {
		return fmt.Errorf("%w: %s", ErrAlgorithm, r.SigAlg)
	}
	h := alg.hash.New()
	h.Write(signedOctets(r.Name, r.rawMessage, r.rawRelayState, r.HasRelayState, r.rawSigAlg))
	digest := h.Sum(nil)
	for _, c := range certs {
		switch pub := c.PublicKey.(type) {
		case *rsa.PublicKey:
			if !alg.ecdsa && rsa.VerifyPKCS1v15(pub, alg.hash, digest, r.Signature) == nil {
				return nil
			}
		case *ecdsa.PublicKey:
			if alg.ecdsa && verifyECDSA(pub, digest, r.Signature) {
				return nil
			}
		}
	}
	return ErrSignature
}

func verifyECDSA(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if size := (pub.Curve.Params().BitSize + 7) / 8; len(sig) == 2*size {
		rr, ss := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if ecdsa.Verify(pub, digest, rr, ss) {
			return true
		}
	}
	return ecdsa.VerifyASN1(pub, digest, sig)
}

// SignRedirect builds a Redirect binding query for message, the XML to
// send as name (SAMLRequest or SAMLResponse): deflated, base64 and
// URL-encoded, then rawRelayState unless "" (URL-encoded already: a
// Redirect's RawRelayState, or url.QueryEscape of a new one), then, when
// key is not nil, SigAlg and Signature made with key (RSA or ECDSA) under
// sigAlg, SHA-256 or up. ECDSA signatures are written r‖s, as XML DSig
// defines them.
func SignRedirect(name string, message []byte, rawRelayState string, sigAlgURI string, key crypto.Signer) (string, error) {
	if name != nameRequest && name != nameResponse {
		return "", fmt.Errorf("binding: a Redirect query carries SAMLRequest or SAMLResponse, not %q", name)
	}
	if rawRelayState != "" {
		if _, err := url.QueryUnescape(rawRelayState); err != nil || strings.ContainsAny(rawRelayState, "&#") {
			return "", fmt.Errorf("%w: RelayState %q is not URL-encoded", ErrMalformed, rawRelayState)
		}
	}
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(message)
	if err := fw.Close(); err != nil {
		return "", err
	}
	rawMessage := url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes()))
	if key == nil {
		q := name + "=" + rawMessage
		if rawRelayState != "" {
			q += "&RelayState=" + rawRelayState
		}
		return q, nil
	}
	alg, ok := lookupAlg(sigAlgURI, DefaultAlgorithms())
	if !ok {
		return "", fmt.Errorf("%w: idphooks signs with SHA-256 or up, not %s", ErrAlgorithm, sigAlgURI)
	}
	rawSigAlg := url.QueryEscape(sigAlgURI)
	octets := signedOctets(name, rawMessage, rawRelayState, rawRelayState != "", rawSigAlg)
	h := alg.hash.New()
	h.Write(octets)
	digest := h.Sum(nil)
	var sig []byte
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		if alg.ecdsa {
			return "", fmt.Errorf("%w: %s with an RSA key", ErrAlgorithm, sigAlgURI)
		}
		var err error
		if sig, err = key.Sign(rand.Reader, digest, alg.hash); err != nil {
			return "", err
		}
	case *ecdsa.PublicKey:
		if !alg.ecdsa {
			return "", fmt.Errorf("%w: %s with an ECDSA key", ErrAlgorithm, sigAlgURI)
		}
		der, err := key.Sign(rand.Reader, digest, alg.hash)
		if err != nil {
			return "", err
		}
		if sig, err = concatRS(der, (pub.Curve.Params().BitSize+7)/8); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("%w: a %T key", ErrAlgorithm, pub)
	}
	return string(octets) + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

// concatRS turns an ASN.1 ECDSA signature into XML DSig's r‖s.
func concatRS(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() < 0 || rs.S.Sign() < 0 || rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, errors.New("binding: the signer's ECDSA signature is not ASN.1")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
