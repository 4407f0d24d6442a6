package binding

import "errors"

// What a page or query can be refused for; errors wrap one of these with
// the detail.
var (
	// ErrTooLarge: a page, or an inflated Redirect message, over its cap.
	ErrTooLarge = errors.New("saml binding: too large")
	// ErrNoMessage: no form of the page posts SAMLResponse or SAMLRequest.
	ErrNoMessage = errors.New("saml binding: no SAML message")
	// ErrAmbiguous: browsers, SPs or idphooks could read the page in more
	// than one way (two messages, a repeated attribute, a field hidden in
	// <noscript>, ...). It is refused rather than guessed at.
	ErrAmbiguous = errors.New("saml binding: ambiguous")
	// ErrMalformed: base64, DEFLATE or a query that does not decode.
	ErrMalformed = errors.New("saml binding: malformed")
	// ErrUnsigned: a Redirect query without SigAlg and Signature.
	ErrUnsigned = errors.New("saml binding: not signed")
	// ErrAlgorithm: a signature algorithm unknown, not allowed, or not
	// that of the key.
	ErrAlgorithm = errors.New("saml binding: signature algorithm refused")
	// ErrSignature: the signature matches none of the certificates.
	ErrSignature = errors.New("saml binding: signature does not verify")
)
