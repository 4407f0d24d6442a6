package binding

import (
	"crypto"
	"slices"
)

// Signature algorithms of the Redirect binding (XML DSig identifiers, RFC
// 6931).
const (
	RSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ECDSASHA1   = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"
	ECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// DefaultAlgorithms is the allow-list Verify applies when given none:
// SHA-256 and up, RSA and ECDSA. SHA-1 is accepted only when listed.
func DefaultAlgorithms() []string {
	return []string{RSASHA256, RSASHA384, RSASHA512, ECDSASHA256, ECDSASHA384, ECDSASHA512}
}

type sigAlg struct {
	hash  crypto.Hash
	ecdsa bool
}

var sigAlgs = map[string]sigAlg{
	RSASHA1:     {crypto.SHA1, false},
	RSASHA256:   {crypto.SHA256, false},
	RSASHA384:   {crypto.SHA384, false},
	RSASHA512:   {crypto.SHA512, false},
	ECDSASHA1:   {crypto.SHA1, true},
	ECDSASHA256: {crypto.SHA256, true},
	ECDSASHA384: {crypto.SHA384, true},
	ECDSASHA512: {crypto.SHA512, true},
}

// lookupAlg returns the algorithm uri names when allowed lists it (the
// defaults when allowed is nil).
func lookupAlg(uri string, allowed []string) (sigAlg, bool) {
	if allowed == nil {
		allowed = DefaultAlgorithms()
	}
	a, ok := sigAlgs[uri]
	return a, ok && slices.Contains(allowed, uri)
}
