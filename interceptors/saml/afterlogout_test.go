package saml

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interceptors/saml/binding"
	"github.com/idphooks/idphooks/sandbox"
)

// A LogoutRequest the IdP signed long ago and an answer of the IdP passes
// on again (a redirect to a URL the client chose, carrying a captured
// one: Keycloak's have no NotOnOrAfter, so they verify forever) raises no
// after_logout, by POST or Redirect; it still reaches the SP, which
// judges it. One issued just now does.
func TestAfterLogoutOnlyForFreshRequests(t *testing.T) {
	got := make(chan *events.Event, 4)
	h := newHarnessAsync(t, `exports.onAfterLogout = async (event) => {};`, nil, func(_ string, ev *events.Event, _ *sandbox.Result, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- ev
	})
	issued := func(d time.Duration) string {
		return idpSign(t, strings.Replace(keycloakLogoutRequest(), `IssueInstant="`+ts(0)+`"`, `IssueInstant="`+ts(d)+`"`, 1), "dsig", kcRequestID)
	}
	// By Redirect: the query signed, the XML not.
	idp, _ := keys()
	for _, tt := range []struct {
		d      time.Duration
		raised bool
	}{{-24 * time.Hour, false}, {-time.Minute, true}} {
		xml := strings.Replace(keycloakLogoutRequest(), `IssueInstant="`+ts(0)+`"`, `IssueInstant="`+ts(tt.d)+`"`, 1)
		q, err := binding.SignRedirect("SAMLRequest", []byte(xml), "", RSASHA256, idp.key)
		if err != nil {
			t.Fatal(err)
		}
		h.page = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", testSLO+"?"+q)
			w.WriteHeader(http.StatusFound)
		}
		if w := h.do(t, "GET", "/x"); w.Code != http.StatusFound {
			t.Fatalf("Redirect issued %v ago: %d %s", -tt.d, w.Code, w.Body)
		}
		select {
		case ev := <-got:
			if !tt.raised {
				t.Errorf("Redirect issued %v ago: after_logout raised: %+v", -tt.d, ev.User)
			}
		case <-time.After(300 * time.Millisecond):
			if tt.raised {
				t.Errorf("Redirect issued %v ago: no after_logout", -tt.d)
			}
		}
	}
	for _, tt := range []struct {
		name   string
		msg    string
		raised bool
	}{
		{"issued a day ago", issued(-24 * time.Hour), false},
		{"issued ten minutes ago", issued(-10 * time.Minute), false},
		{"issued an hour ahead", issued(time.Hour), false},
		{"issued a minute ago", issued(-time.Minute), true},
	} {
		h.page = serve("text/html", postPageFor("SAMLRequest", tt.msg, ""))
		if w := h.do(t, "POST", "/realms/acme/protocol/saml"); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
		}
		select {
		case ev := <-got:
			if !tt.raised {
				t.Errorf("%s: after_logout raised: %+v", tt.name, ev.User)
			}
		case <-time.After(300 * time.Millisecond):
			if tt.raised {
				t.Errorf("%s: no after_logout", tt.name)
			}
		}
	}
}
