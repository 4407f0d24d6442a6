// Package events owns the lifecycle event catalog (which events exist, their
// default mode and what a hook may do at each), the event payload, and the
// dispatcher that runs the configured hooks for an event.
package events

import (
	"strings"

	"github.com/idphooks/idphooks/sandbox"
)

// Mode says whether the flow waits for a hook.
type Mode string

const (
	// Sync hooks run inline; they may change or stop the flow.
	Sync Mode = "sync"
	// Async hooks are told after the fact; the flow goes on.
	Async Mode = "async"
)

// Lifecycle event ids.
const (
	BeforeToken              = "before_token"
	AfterTokenRefresh        = "after_token_refresh"
	BeforeUserinfo           = "before_userinfo"
	BeforeSAMLAssertion      = "before_saml_assertion"
	AfterIdentification      = "after_identification"
	BeforePasswordValidation = "before_password_validation"
	AtFailedAuthentication   = "at_failed_authentication"
	BeforeRegistration       = "before_registration"
	AfterRegistration        = "after_registration"
	AfterExternalLogin       = "after_external_login"
	BeforePasswordReset      = "before_password_reset"
	AfterLogin               = "after_login"
	AfterPasswordReset       = "after_password_reset"
	AfterAccountUpdate       = "after_account_update"
	AfterAccountDeletion     = "after_account_deletion"
	AfterConsentUpdate       = "after_consent_update"
	AfterMFAChange           = "after_mfa_change"
	AfterLogout              = "after_logout"
	AfterEmailVerification   = "after_email_verification"
)

// Spec is one row of the catalog.
type Spec struct {
	// ID is the snake_case event id.
	ID string
	// Mode is the default mode of hooks on this event.
	Mode Mode
	// Objects and Functions are what a sync hook's api holds (see
	// sandbox.API). Async hooks get an empty api.
	Objects   map[string][]string
	Functions []string
	// Secret events carry a password: they are never recorded, and no
	// async hook is told of them (the Caddy module refuses the config).
	Secret bool
}

var claimMethods = []string{"setClaim", "removeClaim"}

var catalog = map[string]Spec{
	BeforeToken: {Mode: Sync,
		Objects:   map[string][]string{"idToken": claimMethods, "accessToken": claimMethods},
		Functions: []string{"deny"}},
	AfterTokenRefresh: {Mode: Sync, Functions: []string{"deny"}},
	BeforeUserinfo: {Mode: Sync,
		Objects:   map[string][]string{"userinfo": claimMethods},
		Functions: []string{"deny"}},
	BeforeSAMLAssertion: {Mode: Sync,
		Objects:   map[string][]string{"assertion": {"setAttribute", "removeAttribute", "setNameID"}},
		Functions: []string{"deny"}},
	AfterIdentification:      {Mode: Sync, Functions: []string{"deny", "redirect"}},
	BeforePasswordValidation: {Mode: Sync, Functions: []string{"accept", "reject"}, Secret: true},
	AtFailedAuthentication:   {Mode: Sync, Functions: []string{"replaceError", "redirect"}},
	BeforeRegistration: {Mode: Sync,
		Objects:   map[string][]string{"form": {"setField", "removeField"}},
		Functions: []string{"deny", "redirect"}},
	AfterRegistration:      {Mode: Sync, Functions: []string{"redirect"}},
	AfterExternalLogin:     {Mode: Sync, Functions: []string{"deny", "redirect"}},
	BeforePasswordReset:    {Mode: Sync, Functions: []string{"deny"}},
	AfterLogin:             {Mode: Async},
	AfterPasswordReset:     {Mode: Async},
	AfterAccountUpdate:     {Mode: Async},
	AfterAccountDeletion:   {Mode: Async},
	AfterConsentUpdate:     {Mode: Async},
	AfterMFAChange:         {Mode: Async},
	AfterLogout:            {Mode: Async},
	AfterEmailVerification: {Mode: Async},
}

// handlerNames caches HandlerName for the catalog: it is asked on every
// request that may raise an event.
var handlerNames = map[string]string{}

func init() {
	for id, s := range catalog {
		s.ID = id
		catalog[id] = s
		handlerNames[id] = handlerName(id)
	}
}

// Lookup returns the catalog entry of an event id.
func Lookup(id string) (Spec, bool) {
	s, ok := catalog[id]
	return s, ok
}

// IDs returns every event id in the catalog.
func IDs() []string {
	ids := make([]string, 0, len(catalog))
	for id := range catalog {
		ids = append(ids, id)
	}
	return ids
}

// HandlerName maps an event id to the function a hook exports for it:
// before_token → onBeforeToken, before_saml_assertion → onBeforeSamlAssertion.
func HandlerName(id string) string {
	if n, ok := handlerNames[id]; ok {
		return n
	}
	return handlerName(id)
}

func handlerName(id string) string {
	var b strings.Builder
	b.WriteString("on")
	for _, part := range strings.Split(id, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// API builds the sandbox api description of a sync hook on this event.
func (s Spec) API(check func(sandbox.Op) error) sandbox.API {
	return sandbox.API{Objects: s.Objects, Functions: s.Functions, Check: check}
}
