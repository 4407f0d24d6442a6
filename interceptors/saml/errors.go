package saml

import "errors"

// What a message can be refused for. Errors wrap one of these with the
// detail, so callers can test with errors.Is and log the text.
var (
	// ErrTooLarge: the encoded or decoded message is over its cap.
	ErrTooLarge = errors.New("saml: message too large")
	// ErrMalformed: base64, DEFLATE or XML that does not decode.
	ErrMalformed = errors.New("saml: malformed message")
	// ErrDoctype: a DOCTYPE (or any other markup declaration), and so any
	// entity definition, is refused outright.
	ErrDoctype = errors.New("saml: DOCTYPE refused")
	// ErrTooDeep: elements nested deeper than the bound.
	ErrTooDeep = errors.New("saml: nesting too deep")
	// ErrNotOneRoot: the document is not exactly one root element.
	ErrNotOneRoot = errors.New("saml: document is not one root element")
	// ErrStructure: the XML is not a SAML message of a shape we accept
	// (wrong root, misplaced or repeated elements).
	ErrStructure = errors.New("saml: unexpected structure")
	// ErrEncrypted: the Response carries an EncryptedAssertion and the
	// Verifier has no key to decrypt it with.
	ErrEncrypted = errors.New("saml: encrypted assertion")
	// ErrDecrypt: an EncryptedAssertion (or an EncryptedID or
	// EncryptedAttribute whose key idphooks unwraps) of an allowed shape
	// does not decrypt with idphooks' keys into what it must hold: no key
	// unwraps it, a GCM tag or CBC padding does not check, or what comes
	// out is not a saml:Assertion (NameID, Attribute). One error for all,
	// so that a sender of crafted ciphertexts learns nothing from which.
	ErrDecrypt = errors.New("saml: encrypted element does not decrypt")
	// ErrWrapping: a shape used for signature wrapping (several
	// assertions, duplicate IDs, a signature where none belongs, a
	// signature over another element, split text).
	ErrWrapping = errors.New("saml: signature wrapping refused")
	// ErrUnsigned: neither the Response nor its Assertion is signed; a
	// logout message has neither an XML nor a verified query signature.
	ErrUnsigned = errors.New("saml: not signed")
	// ErrAlgorithm: a signature, digest or transform algorithm unknown or
	// not on the allow-list.
	ErrAlgorithm = errors.New("saml: algorithm refused")
	// ErrSignature: a signature does not verify with the IdP's
	// certificates.
	ErrSignature = errors.New("saml: signature does not verify")
	// ErrProtected: an edit would touch a protected element or attribute.
	ErrProtected = errors.New("saml: protected")
	// ErrExpired: a validity time of the message (Conditions,
	// SubjectConfirmationData, a LogoutRequest's NotOnOrAfter) is past, or
	// not yet reached, beyond the allowed clock skew.
	ErrExpired = errors.New("saml: message expired or not yet valid")
)
