package forms

import (
	"context"
	"net/http"
	"net/url"
)

// Form is the kind of form a request posts.
type Form int

const (
	// NoForm: the request posts none of the forms a profile knows.
	NoForm Form = iota
	// Login is the username/password form, or the username-only first
	// step of a username-then-password flow.
	Login
	// Registration creates an account.
	Registration
	// Reset asks for a password reset.
	Reset
	// OTP is the one-time code step of a login.
	OTP
	// The account steps of a flow after the customer is known (Keycloak's
	// required actions): a new password (also the last step of a
	// password reset), a new one-time code device, a profile update, the
	// account's deletion.
	UpdatePassword
	ConfigureOTP
	UpdateProfile
	DeleteAccount
)

func (f Form) String() string {
	switch f {
	case Login:
		return "login"
	case Registration:
		return "registration"
	case Reset:
		return "reset"
	case OTP:
		return "otp"
	case UpdatePassword:
		return "update_password"
	case ConfigureOTP:
		return "configure_otp"
	case UpdateProfile:
		return "update_profile"
	case DeleteAccount:
		return "delete_account"
	}
	return "none"
}

// Result is what the IdP's answer to a form post says.
type Result int

const (
	// Other: neither a success nor a failure the profile recognises (an
	// error page, a next step it does not know); nothing runs.
	Other Result = iota
	// Succeeded: the IdP accepted the post (it moved the flow on).
	Succeeded
	// Failed: the IdP showed the form again with an error.
	Failed
)

// Answer is a profile's reading of the IdP's answer to a post.
type Answer struct {
	Result Result
	// Reason is the normalised cause of a failure: invalid_credentials,
	// invalid_otp, disabled, temporarily_locked, unknown_user,
	// user_exists, email_exists, invalid_input, or unknown.
	Reason string
	// Message is the IdP's own message as the page shows it.
	Message string
}

// Normalised failure reasons.
const (
	ReasonInvalidCredentials = "invalid_credentials"
	ReasonInvalidOTP         = "invalid_otp"
	ReasonDisabled           = "disabled"
	ReasonTemporarilyLocked  = "temporarily_locked"
	ReasonUnknownUser        = "unknown_user"
	ReasonUserExists         = "user_exists"
	ReasonEmailExists        = "email_exists"
	ReasonInvalidInput       = "invalid_input"
	ReasonUnknown            = "unknown"
)

// Profile is what idphooks knows of one IdP's pages. Implementations are
// plain values, safe for concurrent use; they read and never write.
type Profile interface {
	// Name is the profile's name in config and logs.
	Name() string

	// Classify tells which form a request posts. path is r's path as
	// interception.NormalizePath folds it: every spelling the IdP's
	// router accepts must classify as it does.
	Classify(r *http.Request, path string) Form

	// Refine is the form a post of f carries by its fields, for an IdP
	// that runs whatever step its session is on, whichever endpoint the
	// post names; f when the fields say nothing more. MayCarry lists
	// what Refine may return for f, f first: their hooks all count when
	// deciding whether a post of f is read.
	Refine(f Form, values url.Values) Form
	MayCarry(f Form) []Form

	// Fields names a form's fields: the identifier (username or email)
	// and the secrets (passwords and their confirmations), which no event
	// but before_password_validation shows.
	Fields(f Form) Fields

	// Application is the client the flow is for (an OIDC client_id, a
	// SAML SP entity id), read as the IdP reads it; "" when the request
	// does not say. query and form are the request's, already checked
	// for repeats of the names ApplicationParams lists.
	Application(query, form url.Values) string
	// ApplicationParams are the parameters Application reads; none when
	// the IdP's posts do not say (hooks then cannot be limited to
	// applications).
	ApplicationParams() []string

	// Reading says how the IdP reads a post's fields, so that hooks read
	// them the same way.
	Reading() Reading

	// Again returns the request that makes the IdP show the form of a
	// post again without acting on it (its current page, with a fresh
	// one-time code where it uses one): what a denied post is answered
	// with, so that the customer sees the IdP's own page and can retry.
	// It is sent to the IdP in the post's place; it never carries the
	// post's body.
	Again(post *http.Request, f Form, form url.Values) (*http.Request, error)

	// Markup says where the IdP's page for f shows the form and its
	// errors; ok is false for a form the profile does not know.
	Markup(f Form) (m Markup, ok bool)

	// Read tells what the IdP's answer to a post of f says. page is the
	// held 2xx HTML answer as ScanPage read it with f's Markup, nil for
	// any other answer.
	Read(f Form, status int, h http.Header, page *Page) Answer
}

// Reading is how an IdP reads a post's fields.
type Reading struct {
	// Query: the IdP reads a field from the query string too when the
	// body lacks it (PHP's $_REQUEST). A field in both is refused.
	Query bool
	// PHP: field names are folded the way PHP registers them (leading
	// spaces dropped, "." and " " read as "_"), names with "[" (PHP
	// arrays) are refused, and so is a post with more fields than PHP's
	// max_input_vars keeps.
	PHP bool
	// Trim: the IdP drops the characters up to U+0020 (spaces, tabs,
	// NUL and the other controls) around the identifier before it looks
	// the user up, as Java's String.trim does: " bob\x00" is bob.
	Trim bool
	// Fold names the fields whose values the IdP reads without regard
	// to case (Keycloak lower-cases usernames and emails, at login and
	// when it stores them): BOB is bob.
	Fold []string
}

// Fields names a form's fields.
type Fields struct {
	// Identifiers name the fields that say who the customer is, the first
	// one present counting (username, then email where a realm
	// registers by email).
	Identifiers []string
	Password    string
	// Secrets are every field no event shows but the password's own
	// (confirmations, one-time codes), Password included.
	Secrets []string
}

// Directory is the IdP's user store as lazy migration needs it: a profile
// that offers one lets before_password_validation move users from a
// legacy store into the IdP at their first login.
type Directory interface {
	// Known reports whether the IdP has a user called identifier
	// (username, or email where the IdP logs in by email).
	Known(ctx context.Context, identifier string) (bool, error)
	// Create adds the user with the password the legacy store accepted,
	// so that the IdP checks it itself from now on. It never changes an
	// existing user: it returns ErrUserExists instead.
	Create(ctx context.Context, u NewUser) error
}

// Sessions is implemented by a profile whose IdP binds a flow to a
// session of its own: the account steps after a login (a new password, a
// deleted account) and the password step of a username-then-password
// login do not say who the customer is, so the interceptor remembers who
// the IdP let in under the session's key, and which identifier it took
// under the flow's. The keys must be ones the IdP binds the flow to,
// never a value the browser may choose for another customer's flow.
type Sessions interface {
	// FlowKey is the key of the IdP's session r belongs to (a browser's
	// SSO session) and of the login flow within it (a tab's); "" when r
	// does not name one the way the IdP reads it.
	FlowKey(r *http.Request) (session, flow string)
	// Identified reports whether page, the IdP's answer to post (a login
	// post naming the customer), is the password step of the identifier
	// posted: the IdP took that identifier for the flow. It must not hold
	// for a page the IdP shows again without acting on the post.
	Identified(post *http.Request, page *Page) bool
}

// Subjects is implemented by a profile whose IdP's success answers say
// whom they signed in (Keycloak's KEYCLOAK_IDENTITY cookie): an account
// event whose answer says so names that user when the remembered one is
// someone else, whatever a login post named.
type Subjects interface {
	// Subject is the IdP's id (sub) of the user the answer with header
	// h signed in; "" when it does not say.
	Subject(h http.Header) string
}

// Resolver is implemented by a Directory that can tell who a user is:
// the account events carry the user as the IdP knows them.
type Resolver interface {
	// User is the IdP's user called identifier (username, or email
	// where the IdP logs in by email) as events show users: sub,
	// username, email; nil and no error when there is none.
	User(ctx context.Context, identifier string) (map[string]any, error)
}

// NewUser is a user to create in the IdP.
type NewUser struct {
	Username   string
	Password   string
	Email      string
	FirstName  string
	LastName   string
	Attributes map[string][]string
}
