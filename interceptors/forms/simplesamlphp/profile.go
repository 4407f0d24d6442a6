// Package simplesamlphp is the forms profile of SimpleSAMLphp's
// username/password login page (core:loginuserpass, used by every
// UserPassBase source: exampleauth:UserPass, ldap, sqlauth, ...): a
// configuration of the generic profile.
package simplesamlphp

import (
	"strings"

	"github.com/idphooks/idphooks/interceptors/forms"
	"github.com/idphooks/idphooks/interceptors/forms/generic"
)

// DefaultBasePath is where Debian and the upstream docs install
// SimpleSAMLphp (its baseurlpath).
const DefaultBasePath = "/simplesaml/"

// oldErrorStyle is the style of the error box of SimpleSAMLphp 1.19's
// old loginuserpass.tpl.php, which has no class or id.
const oldErrorStyle = "border-left: 1px solid #e8e8e8; border-bottom: 1px solid #e8e8e8; background: #f5f5f5"

// New returns the profile of the SimpleSAMLphp under basePath ("" for
// DefaultBasePath).
//
// What it knows of SimpleSAMLphp 1.19 and 2.x:
//   - the login form posts username, password and the hidden AuthState to
//     module.php/core/loginuserpass.php (loginuserpass in 2.x, and the
//     loginuserpassorg variants), at action "?": the state is in the body;
//   - fields are read from $_REQUEST: the query counts too, with PHP's
//     name folding (the forms interceptor reads them the same way);
//   - a failure renders the form again (200) with the error in
//     div.message-box.error (the twig templates: 2.x, and 1.19 with
//     usenewui); a success redirects;
//   - the page for a denied post is a GET of the same URL with its
//     AuthState, which shows the form and acts on nothing.
//
// The posts do not name the SP (it is in the server-side state), so
// hooks on these events cannot be limited to applications.
func New(basePath string) (*generic.Profile, error) {
	if basePath == "" {
		basePath = DefaultBasePath
	}
	if !strings.HasSuffix(basePath, "/") {
		basePath += "/"
	}
	var paths []string
	for _, p := range []string{"loginuserpass.php", "loginuserpass", "loginuserpassorg.php", "loginuserpassorg"} {
		paths = append(paths, basePath+"module.php/core/"+p)
	}
	return generic.New(generic.Config{
		Name: "simplesamlphp",
		Forms: map[forms.Form]*generic.Form{
			forms.Login: {
				Paths:       paths,
				Identifiers: []string{"username"},
				Password:    "password",
				Page:        forms.MustSelector("form[name=f]"),
				// 2.x and the twig templates mark the error box; 1.19's
				// old templates (Debian 12's default) only style it.
				Error:      forms.MustSelector(`div.message-box.error, div[style="` + oldErrorStyle + `"]`),
				AgainCarry: []string{"AuthState"},
			},
		},
		Reading: forms.Reading{Query: true, PHP: true},
		Alert:   `<div class="message-box error"><h3>{message}</h3></div>`,
		Reasons: []generic.Reason{
			// The English title, and the error code, which pages show
			// when the translations are not installed (Debian's twig).
			{Contains: "incorrect username or password", Reason: forms.ReasonInvalidCredentials},
			{Contains: "WRONGUSERPASS", Reason: forms.ReasonInvalidCredentials},
			{Contains: "no access", Reason: forms.ReasonDisabled},
			{Contains: "NOACCESS", Reason: forms.ReasonDisabled},
		},
	})
}
