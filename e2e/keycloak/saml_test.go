package keycloak

import (
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/caddymodule"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// attrsHook edits what SPs receive: bob is denied, alice gets a new
// attribute, a changed one, a removed one and a NameID of the CRM's. A
// try of a protected element records the error it throws.
const attrsHook = `
exports.onBeforeSamlAssertion = async (event, api) => {
  if (event.saml.name_id.value === "bob@example.com") { api.deny("bob is blocked in the CRM"); return; }
  api.assertion.setAttribute("tier", ["gold"]);
  api.assertion.setAttribute("department", [event.user.department + " (EMEA)"]);
  api.assertion.removeAttribute("Role");
  api.assertion.setNameID("crm-" + event.user.sub, "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
  api.assertion.setAttribute("sp_seen", [event.application, event.saml.signed]);
};
`

const persistentFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

// samlProxy starts Caddy + idp_hooks in front of Keycloak with the saml
// block (and OIDC on the same handler, as a Keycloak realm serves both),
// the realm's frontend URL on the proxy's origin.
func samlProxy(t *testing.T, extra map[string]any) *proxy {
	t.Helper()
	cfg := map[string]any{"saml": map[string]any{"idp_metadata": testidp.KeycloakSAMLDescriptorURL(kc)}}
	for k, v := range extra {
		cfg[k] = v
	}
	return startProxy(t, cfg, fixedHostname)
}

// samlSP starts crewjam's SP trusting only the metadata idphooks serves
// and registers it in the realm as c says.
func samlSP(t *testing.T, px *proxy, name string, c testidp.KeycloakSAMLClient) *samlsp.SP {
	t.Helper()
	sp, err := samlsp.New(e2etest.Ctx(t), samlsp.Options{
		EntityID:       "urn:idphooks:e2e:sp:" + name,
		IDPMetadataURL: px.Origin + caddymodule.DefaultSAMLMetadataPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	c.EntityID, c.ACSURL, c.SLOURL = sp.EntityID(), sp.ACSURL(), sp.SLOURL()
	if c.IdPInitiatedName == "" {
		c.IdPInitiatedName = name
	}
	if err := testidp.AddKeycloakSAMLClient(e2etest.Ctx(t), kc, c); err != nil {
		t.Fatal(err)
	}
	return sp
}

func samlBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// TestSAMLLoginWithHooks: for each signing placement, crewjam's SP logs
// in through Caddy + idp_hooks trusting only idphooks' metadata; the
// hook's edits arrive, signed where the IdP signed; bob is denied and the
// SP shows a failed login.
func TestSAMLLoginWithHooks(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	u := testidp.TestUser
	for _, signing := range []string{testidp.SignAssertion, testidp.SignResponse, testidp.SignBoth} {
		t.Run(signing, func(t *testing.T) {
			sp := samlSP(t, px, "hooks-"+signing, testidp.KeycloakSAMLClient{Signing: signing})
			res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			checkAttrsHook(t, u, sp.EntityID(), signing, res.NameID, res.NameIDFormat, res.Attributes)
			doc := string(res.Response)
			sigs := strings.Count(doc, "SignatureValue>") / 2
			if want := map[string]int{testidp.SignBoth: 2}[signing]; sigs != max(want, 1) {
				t.Errorf("%d signatures in what the SP got, want %d:\n%s", sigs, max(want, 1), doc)
			}

			_, err = sp.Login(e2etest.Ctx(t), samlBrowser(t), testidp.SecondUser.Username, testidp.SecondUser.Password)
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("bob's login: %v, want the SP to refuse a denied response", err)
			}
		})
	}
}

// TestSAMLIdPInitiated: an unsolicited response (no InResponseTo, no
// RelayState) is hooked and accepted the same way.
func TestSAMLIdPInitiated(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	sp := samlSP(t, px, "unsolicited", testidp.KeycloakSAMLClient{Signing: testidp.SignBoth})
	u := testidp.TestUser
	res, err := sp.LoginIdPInitiated(e2etest.Ctx(t), samlBrowser(t),
		px.Issuer()+"/protocol/saml/clients/unsolicited", u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	if res.NameID != "crm-"+u.Email {
		t.Errorf("NameID = %q", res.NameID)
	}
	if strings.Contains(string(res.Response), "InResponseTo") || res.RelayState != "" {
		t.Errorf("an unsolicited response gained InResponseTo or RelayState:\n%s", res.Response)
	}
}

// TestSAMLWithoutHooks: with no hook, the SP still gets idphooks'
// signature (it trusts no other) and the IdP's content.
func TestSAMLWithoutHooks(t *testing.T) {
	px := samlProxy(t, map[string]any{"upstream": nil})
	sp := samlSP(t, px, "no-hooks", testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion})
	u := testidp.TestUser
	res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	if res.NameID != u.Email {
		t.Errorf("NameID = %q", res.NameID)
	}
	if got := res.Attributes[testidp.SAMLRoleAttribute]; len(got) == 0 {
		t.Error("Role missing")
	}
}

// TestSAMLLogout: single logout from both sides through idp_hooks, with
// Keycloak's messages to the SP by POST and by Redirect: the SP trusts
// only idphooks, so each arrives re-signed (XML or query) by idphooks.
// The hook changes the NameID: Keycloak finds the session all the same,
// and its LogoutRequests reach the SP naming the hook's NameID.
func TestSAMLLogout(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	method := map[string]string{testidp.LogoutPOST: http.MethodPost, testidp.LogoutRedirect: http.MethodGet}
	u := testidp.TestUser
	for _, binding := range []string{testidp.LogoutPOST, testidp.LogoutRedirect} {
		t.Run("sp-initiated-"+binding, func(t *testing.T) {
			sp := samlSP(t, px, "slo-sp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding})
			browser := samlBrowser(t)
			res, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sp.Logout(e2etest.Ctx(t), browser, res); err != nil {
				t.Fatal(err)
			}
			if got := sp.SLOMethods(); !slices.Equal(got, []string{method[binding]}) {
				t.Errorf("the LogoutResponse came by %v, want %s", got, method[binding])
			}
			again, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil || !again.Prompted {
				t.Errorf("after logout: %v, prompted %v: the IdP session outlived the logout", err, again != nil && again.Prompted)
			}
		})
		t.Run("idp-initiated-"+binding, func(t *testing.T) {
			sp := samlSP(t, px, "slo-idp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding})
			browser := samlBrowser(t)
			res, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			reqs, err := sp.BrowseLogout(e2etest.Ctx(t), browser, px.Issuer()+"/protocol/openid-connect/logout")
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 1 {
				t.Fatalf("the SP received %d LogoutRequests, want 1", len(reqs))
			}
			if got := sp.SLOMethods(); !slices.Equal(got, []string{method[binding]}) {
				t.Errorf("the LogoutRequest came by %v, want %s", got, method[binding])
			}
			if reqs[0].NameID == nil || reqs[0].SessionIndex == nil || reqs[0].SessionIndex.Value != res.SessionIndex {
				t.Fatalf("LogoutRequest %+v, want the session of the login (%s)", reqs[0], res.SessionIndex)
			}
			// Keycloak names its own NameID; the SP gets the hook's.
			if reqs[0].NameID.Value != res.NameID || reqs[0].NameID.Format != res.NameIDFormat {
				t.Errorf("LogoutRequest names %s (%s), want the NameID of the login, %s (%s)",
					reqs[0].NameID.Value, reqs[0].NameID.Format, res.NameID, res.NameIDFormat)
			}
		})
	}
}

// checkAttrsHook checks, in what an SP received for user u, the edits of
// attrsHook: the CRM's NameID, tier added, department changed, Role
// removed, email kept, the SP and signing placement the hook saw.
func checkAttrsHook(t *testing.T, u testidp.User, sp, signing, nameID, format string, attrs map[string][]string) {
	t.Helper()
	if nameID != "crm-"+u.Email || format != persistentFormat {
		t.Errorf("NameID = %q (%s), want crm-%s (persistent)", nameID, format, u.Email)
	}
	if got := attrs["tier"]; !slices.Equal(got, []string{"gold"}) {
		t.Errorf("tier = %q", got)
	}
	want := testidp.KeycloakSAMLUserDepartment[u.Username] + " (EMEA)"
	if got := attrs[testidp.SAMLDepartmentAttribute]; !slices.Equal(got, []string{want}) {
		t.Errorf("department = %q, want %q", got, want)
	}
	if got, ok := attrs[testidp.SAMLRoleAttribute]; ok {
		t.Errorf("Role still there: %q", got)
	}
	if got := attrs[testidp.SAMLEmailAttribute]; !slices.Equal(got, []string{u.Email}) {
		t.Errorf("email = %q", got)
	}
	if got := attrs["sp_seen"]; !slices.Equal(got, []string{sp, signing}) {
		t.Errorf("sp_seen = %q, want the SP and %q", got, signing)
	}
}
