package keycloak

import (
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/caddymodule"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

// nodeSP starts @node-saml/node-saml's SP with the endpoints of the
// metadata idphooks serves through Caddy, trusting only that metadata's
// signing certificates (or certs when given), wanting the signatures the
// IdP makes for c.Signing, and registers it in the realm as c says.
func nodeSP(t *testing.T, px *proxy, name string, c testidp.KeycloakSAMLClient, certs []*x509.Certificate) *samlsp.NodeSP {
	t.Helper()
	sp := startNodeSP(t, px, name, c.Signing, certs)
	c.EntityID, c.ACSURL, c.SLOURL = sp.EntityID(), sp.ACSURL(), sp.SLOURL()
	if err := testidp.AddKeycloakSAMLClient(e2etest.Ctx(t), kc, c); err != nil {
		t.Fatal(err)
	}
	return sp
}

// startNodeSP starts node-saml's SP as nodeSP does, without registering it.
func startNodeSP(t *testing.T, px *proxy, name, signing string, certs []*x509.Certificate) *samlsp.NodeSP {
	t.Helper()
	opts := samlsp.NodeOptions{
		EntityID:                "urn:idphooks:e2e:node-sp:" + name,
		IDPMetadataURL:          px.Origin + caddymodule.DefaultSAMLMetadataPath,
		IDPCertificates:         certs,
		WantAssertionsSigned:    signing != testidp.SignResponse,
		WantAuthnResponseSigned: signing == testidp.SignResponse || signing == testidp.SignBoth,
	}
	if os.Getenv("NODESAML_LOG") != "" {
		opts.Log = os.Stderr
	}
	sp, err := samlsp.StartNodeSP(e2etest.Ctx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// TestNodeSAMLLoginWithHooks: for each signing placement, node-saml (with
// wantAssertionsSigned / wantAuthnResponseSigned to match) logs in
// through Caddy + idp_hooks trusting only idphooks' certificates; the
// hook's edits arrive; bob's denial is a failed login with idphooks'
// Responder/RequestDenied status.
func TestNodeSAMLLoginWithHooks(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	u := testidp.TestUser
	for _, signing := range []string{testidp.SignAssertion, testidp.SignResponse, testidp.SignBoth} {
		t.Run(signing, func(t *testing.T) {
			sp := nodeSP(t, px, "hooks-"+signing, testidp.KeycloakSAMLClient{Signing: signing}, nil)
			res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
			if err != nil {
				var ne *samlsp.NodeError
				if errors.As(err, &ne) {
					t.Fatalf("%v\nresponse:\n%s", err, ne.Response)
				}
				t.Fatal(err)
			}
			checkAttrsHook(t, u, sp.EntityID(), signing, res.NameID, res.NameIDFormat, res.Attributes)
			if res.SessionIndex == "" || res.InResponseTo == "" {
				t.Errorf("SessionIndex %q, InResponseTo %q: want both", res.SessionIndex, res.InResponseTo)
			}
			sigs := strings.Count(string(res.Response), "SignatureValue>") / 2
			if want := map[string]int{testidp.SignBoth: 2}[signing]; sigs != max(want, 1) {
				t.Errorf("%d signatures in what node-saml got, want %d:\n%s", sigs, max(want, 1), res.Response)
			}

			_, err = sp.Login(e2etest.Ctx(t), samlBrowser(t), testidp.SecondUser.Username, testidp.SecondUser.Password)
			var ne *samlsp.NodeError
			if !errors.As(err, &ne) {
				t.Fatalf("bob's login: %v, want node-saml to report a failed login", err)
			}
			if !strings.Contains(ne.Message, "Responder error") || !strings.Contains(ne.Message, "bob is blocked in the CRM") ||
				!strings.Contains(ne.Status, "urn:oasis:names:tc:SAML:2.0:status:RequestDenied") {
				t.Errorf("bob's login: %v, want Responder/RequestDenied with the hook's message", ne)
			}
		})
	}
}

// TestNodeSAMLRefusesKeycloakCertificate: node-saml given the realm's own
// certificate (from Keycloak's descriptor, fetched directly) instead of
// idphooks' refuses what idphooks sends, for each signing placement: it
// does check signatures, and idphooks' metadata does not list the realm's
// certificate.
func TestNodeSAMLRefusesKeycloakCertificate(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	realm, err := samlsp.FetchSigningCertificates(e2etest.Ctx(t), nil, testidp.KeycloakSAMLDescriptorURL(kc))
	if err != nil {
		t.Fatal(err)
	}
	ours, err := samlsp.FetchSigningCertificates(e2etest.Ctx(t), nil, px.Origin+caddymodule.DefaultSAMLMetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ours {
		if slices.ContainsFunc(realm, c.Equal) {
			t.Fatalf("idphooks' metadata lists the realm's certificate %s", c.Subject)
		}
	}
	want := map[string]string{
		testidp.SignAssertion: "Invalid signature",
		testidp.SignResponse:  "Invalid document signature",
		testidp.SignBoth:      "Invalid document signature",
	}
	u := testidp.TestUser
	for _, signing := range []string{testidp.SignAssertion, testidp.SignResponse, testidp.SignBoth} {
		t.Run(signing, func(t *testing.T) {
			sp := nodeSP(t, px, "realm-cert-"+signing, testidp.KeycloakSAMLClient{Signing: signing}, realm)
			res, err := sp.Login(e2etest.Ctx(t), samlBrowser(t), u.Username, u.Password)
			var ne *samlsp.NodeError
			if !errors.As(err, &ne) {
				t.Fatalf("login with the realm's certificate: %+v, %v; want node-saml's refusal", res, err)
			}
			if ne.Message != want[signing] {
				t.Errorf("node-saml: %q, want %q", ne.Message, want[signing])
			}
		})
	}
}

// TestNodeSAMLLogoutRefusesKeycloakCertificate: the IdP's LogoutRequest,
// re-signed by idphooks (XML by POST, query by Redirect), is refused by a
// node-saml SP given the realm's certificate. The realm's client logs in
// at an SP trusting idphooks and sends its LogoutRequests to a second one
// of the same entity id that trusts the realm.
func TestNodeSAMLLogoutRefusesKeycloakCertificate(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	realm, err := samlsp.FetchSigningCertificates(e2etest.Ctx(t), nil, testidp.KeycloakSAMLDescriptorURL(kc))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{testidp.LogoutPOST: "Invalid signature on documentElement", testidp.LogoutRedirect: "Invalid query signature"}
	u := testidp.TestUser
	for _, binding := range []string{testidp.LogoutPOST, testidp.LogoutRedirect} {
		t.Run(binding, func(t *testing.T) {
			name := "slo-realm-cert-" + binding
			login := startNodeSP(t, px, name, testidp.SignResponse, nil)
			slo := startNodeSP(t, px, name, testidp.SignResponse, realm)
			c := testidp.KeycloakSAMLClient{
				EntityID: login.EntityID(), ACSURL: login.ACSURL(), SLOURL: slo.SLOURL(),
				Signing: testidp.SignResponse, LogoutBinding: binding,
			}
			if err := testidp.AddKeycloakSAMLClient(e2etest.Ctx(t), kc, c); err != nil {
				t.Fatal(err)
			}
			browser := samlBrowser(t)
			if _, err := login.Login(e2etest.Ctx(t), browser, u.Username, u.Password); err != nil {
				t.Fatal(err)
			}
			reqs, err := slo.BrowseLogout(e2etest.Ctx(t), browser, px.Issuer()+"/protocol/openid-connect/logout")
			var ne *samlsp.NodeError
			if !errors.As(err, &ne) {
				t.Fatalf("node-saml with the realm's certificate: %+v, %v; want its refusal", reqs, err)
			}
			if ne.Message != want[binding] {
				t.Errorf("node-saml: %q, want %q", ne.Message, want[binding])
			}
		})
	}
}

// TestNodeSAMLLogout: single logout from both sides through idp_hooks with
// node-saml trusting only idphooks: Keycloak's LogoutResponse and
// LogoutRequest come by POST (XML signature) or by Redirect (query
// signature), re-signed by idphooks; node-saml answers the IdP's
// LogoutRequest by Redirect, unsigned.
func TestNodeSAMLLogout(t *testing.T) {
	hook := e2etest.WriteHook(t, t.TempDir(), "attrs.js", attrsHook)
	px := samlProxy(t, e2etest.Hooks(hook))
	method := map[string]string{testidp.LogoutPOST: http.MethodPost, testidp.LogoutRedirect: http.MethodGet}
	u := testidp.TestUser
	for _, binding := range []string{testidp.LogoutPOST, testidp.LogoutRedirect} {
		t.Run("sp-initiated-"+binding, func(t *testing.T) {
			sp := nodeSP(t, px, "slo-sp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding}, nil)
			browser := samlBrowser(t)
			res, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil {
				t.Fatal(err)
			}
			if err := sp.Logout(e2etest.Ctx(t), browser, res); err != nil {
				t.Fatal(err)
			}
			checkSLOHits(t, sp, "LogoutResponse", method[binding])
			again, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil || !again.Prompted {
				t.Errorf("after logout: %v, prompted %v: the IdP session outlived the logout", err, again != nil && again.Prompted)
			}
		})
		t.Run("idp-initiated-"+binding, func(t *testing.T) {
			sp := nodeSP(t, px, "slo-idp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding}, nil)
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
				t.Fatalf("node-saml accepted %d LogoutRequests, want 1", len(reqs))
			}
			checkSLOHits(t, sp, "LogoutRequest", method[binding])
			if reqs[0].SessionIndex != res.SessionIndex {
				t.Errorf("LogoutRequest %+v, want the session of the login (%s)", reqs[0], res.SessionIndex)
			}
			// Keycloak names its own NameID; idphooks gives the SP the
			// one the hook set at login, which the SP knows.
			if reqs[0].NameID != res.NameID || reqs[0].NameIDFormat != res.NameIDFormat {
				t.Errorf("the LogoutRequest names %s (%s); the login gave node-saml %s (%s)",
					reqs[0].NameID, reqs[0].NameIDFormat, res.NameID, res.NameIDFormat)
			}
			again, err := sp.Login(e2etest.Ctx(t), browser, u.Username, u.Password)
			if err != nil || !again.Prompted {
				t.Errorf("after logout: %v, prompted %v: the IdP session outlived the logout", err, again != nil && again.Prompted)
			}
		})
	}
}

// checkSLOHits: the SP's SLO endpoint got one request, msg by method; one
// by Redirect carried a query signature (node-saml accepts one without).
func checkSLOHits(t *testing.T, sp *samlsp.NodeSP, msg, method string) {
	t.Helper()
	hits, err := sp.SLOHits(e2etest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Method != method {
		t.Fatalf("the %s came as %+v, want one %s", msg, hits, method)
	}
	const rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	if method == http.MethodGet && hits[0].SigAlg != rsaSHA256 {
		t.Errorf("the %s by Redirect has SigAlg %q, want %s", msg, hits[0].SigAlg, rsaSHA256)
	}
}
