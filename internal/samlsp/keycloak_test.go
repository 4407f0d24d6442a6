package samlsp_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/samlsp"
	"github.com/idphooks/idphooks/internal/testidp"
)

var kc *testidp.Provider

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Fprintln(os.Stderr, "internal/samlsp: -short: Keycloak not started, tests skipped")
		os.Exit(0)
	}
	opts := testidp.KeycloakOptions{Log: harnessOnly{}}
	if os.Getenv("KEYCLOAK_LOG") != "" {
		opts.Log = os.Stderr
	}
	start := time.Now()
	var err error
	kc, err = testidp.StartKeycloak(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting keycloak:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "keycloak %s ready at %s after %s\n", testidp.KeycloakVersion, kc.Issuer(), time.Since(start).Round(time.Millisecond))
	code := m.Run()
	kc.Close()
	os.Exit(code)
}

// harnessOnly passes the harness' own lines ("testidp: ...") to stderr.
type harnessOnly struct{}

func (harnessOnly) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "testidp: ") {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// newSP starts an SP trusting Keycloak's descriptor and registers it in
// the realm as c describes (EntityID, ACS and SLO filled in).
func newSP(t *testing.T, name string, c testidp.KeycloakSAMLClient, opts samlsp.Options) *samlsp.SP {
	t.Helper()
	opts.EntityID = "urn:idphooks:test:sp:" + name
	opts.IDPMetadataURL = testidp.KeycloakSAMLDescriptorURL(kc)
	sp, err := samlsp.New(ctx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	c.EntityID, c.ACSURL, c.SLOURL = sp.EntityID(), sp.ACSURL(), sp.SLOURL()
	if c.IdPInitiatedName == "" {
		c.IdPInitiatedName = name
	}
	if opts.SignRequests {
		c.RequestSigner = sp.Certificate
	}
	if err := testidp.AddKeycloakSAMLClient(ctx(t), kc, c); err != nil {
		t.Fatal(err)
	}
	return sp
}

func login(t *testing.T, sp *samlsp.SP, browser *http.Client) *samlsp.Result {
	t.Helper()
	start := time.Now()
	res, err := sp.Login(ctx(t), browser, testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SP-initiated login (prompted %v) took %s", res.Prompted, time.Since(start).Round(time.Millisecond))
	return res
}

func checkAlice(t *testing.T, res *samlsp.Result, nameIDFormat string) {
	t.Helper()
	u := testidp.TestUser
	if nameIDFormat == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" && res.NameID != u.Email {
		t.Errorf("NameID = %q, want %q", res.NameID, u.Email)
	}
	if res.NameID == "" {
		t.Error("no NameID")
	}
	if res.NameIDFormat != nameIDFormat {
		t.Errorf("NameID format = %q, want %q", res.NameIDFormat, nameIDFormat)
	}
	if res.SessionIndex == "" {
		t.Error("no SessionIndex")
	}
	if got := res.Attributes[testidp.SAMLEmailAttribute]; !slices.Equal(got, []string{u.Email}) {
		t.Errorf("%s = %q", testidp.SAMLEmailAttribute, got)
	}
	if got := res.Attributes[testidp.SAMLDepartmentAttribute]; !slices.Equal(got, []string{testidp.KeycloakSAMLUserDepartment[u.Username]}) {
		t.Errorf("%s = %q", testidp.SAMLDepartmentAttribute, got)
	}
	roles := res.Attributes[testidp.SAMLRoleAttribute]
	for _, r := range testidp.KeycloakSAMLUserRoles[u.Username] {
		if !slices.Contains(roles, r) {
			t.Errorf("%s = %q, missing %q", testidp.SAMLRoleAttribute, roles, r)
		}
	}
}

const (
	emailFormat      = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	persistentFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
)

// TestKeycloakLogin: crewjam's SP logs in against a client of each signing
// placement, and one that encrypts assertions to the SP's certificate.
func TestKeycloakLogin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client testidp.KeycloakSAMLClient
		format string
		// signatures on the Response and inside the Assertion, as sent
		response, assertion bool
		encrypted           bool
	}{
		{name: "assertion-signed", client: testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion}, format: emailFormat, assertion: true},
		{name: "response-signed", client: testidp.KeycloakSAMLClient{Signing: testidp.SignResponse}, format: emailFormat, response: true},
		{name: "both-signed", client: testidp.KeycloakSAMLClient{Signing: testidp.SignBoth, NameIDFormat: testidp.NameIDPersistent}, format: persistentFormat, response: true, assertion: true},
		{name: "encrypted", client: testidp.KeycloakSAMLClient{Signing: testidp.SignBoth}, format: emailFormat, response: true, encrypted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sp *samlsp.SP
			if tc.encrypted {
				key, cert, err := samlsp.NewKeyPair("test SP (encryption)")
				if err != nil {
					t.Fatal(err)
				}
				tc.client.EncryptTo = cert
				sp = newSP(t, tc.name, tc.client, samlsp.Options{Key: key, Certificate: cert})
			} else {
				sp = newSP(t, tc.name, tc.client, samlsp.Options{})
			}
			browser := newBrowser(t)
			res := login(t, sp, browser)
			checkAlice(t, res, tc.format)
			if !res.Prompted {
				t.Error("a new browser was not shown the login form")
			}
			doc := string(res.Response)
			if got := responseSigned(doc); got != tc.response {
				t.Errorf("Response signature: %v, want %v:\n%s", got, tc.response, doc)
			}
			if got := strings.Contains(doc, "EncryptedAssertion"); got != tc.encrypted {
				t.Errorf("EncryptedAssertion in the response: %v, want %v", got, tc.encrypted)
			}
			if !tc.encrypted && tc.assertion != (res.Assertion.Signature != nil) {
				t.Errorf("assertion signature: %v, want %v", res.Assertion.Signature != nil, tc.assertion)
			}
			// The IdP session now lets a second login through without
			// the form.
			again := login(t, sp, browser)
			if again.Prompted {
				t.Error("the IdP session did not carry a second login")
			}
			checkAlice(t, again, tc.format)
		})
	}
}

// responseSigned tells whether Keycloak's Response carries its own
// signature: Keycloak puts it right after the Response's Issuer, before
// the (possibly encrypted) assertion.
func responseSigned(doc string) bool {
	sig := strings.Index(doc, "<dsig:Signature")
	assertion := strings.Index(doc, "Assertion")
	return sig >= 0 && (assertion < 0 || sig < assertion)
}

// TestKeycloakSignedRequests: the client requires signed AuthnRequests
// and LogoutRequests, and crewjam signs the Redirect binding's query.
func TestKeycloakSignedRequests(t *testing.T) {
	sp := newSP(t, "signed-requests", testidp.KeycloakSAMLClient{Signing: testidp.SignBoth}, samlsp.Options{SignRequests: true})
	browser := newBrowser(t)
	res := login(t, sp, browser)
	checkAlice(t, res, emailFormat)
	if _, err := sp.Logout(ctx(t), browser, res); err != nil {
		t.Fatal(err)
	}
}

func TestKeycloakIdPInitiated(t *testing.T) {
	sp := newSP(t, "idp-initiated", testidp.KeycloakSAMLClient{Signing: testidp.SignBoth}, samlsp.Options{})
	start := time.Now()
	res, err := sp.LoginIdPInitiated(ctx(t), newBrowser(t), testidp.KeycloakSAMLIdPInitiatedURL(kc, "idp-initiated"), testidp.TestUser.Username, testidp.TestUser.Password)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("IdP-initiated login took %s", time.Since(start).Round(time.Millisecond))
	checkAlice(t, res, emailFormat)
	if res.RelayState != "" {
		t.Errorf("RelayState = %q", res.RelayState)
	}
	if strings.Contains(string(res.Response), "InResponseTo") {
		t.Errorf("an IdP-initiated response with InResponseTo:\n%s", res.Response)
	}
}

// TestKeycloakLogout: single logout started by the SP and by the IdP, with
// Keycloak's messages towards the SP by POST and by Redirect. Keycloak
// signs logout messages only for clients that sign the Response ("Sign
// documents"); see TestKeycloakUnsignedLogout.
func TestKeycloakLogout(t *testing.T) {
	method := map[string]string{testidp.LogoutPOST: http.MethodPost, testidp.LogoutRedirect: http.MethodGet}
	for _, binding := range []string{testidp.LogoutPOST, testidp.LogoutRedirect} {
		t.Run("sp-initiated-"+binding, func(t *testing.T) {
			sp := newSP(t, "slo-sp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding}, samlsp.Options{})
			browser := newBrowser(t)
			res := login(t, sp, browser)
			start := time.Now()
			resp, err := sp.Logout(ctx(t), browser, res)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("SP-initiated logout took %s; LogoutResponse %s", time.Since(start).Round(time.Millisecond), resp.ID)
			if got := sp.SLOMethods(); !slices.Equal(got, []string{method[binding]}) {
				t.Errorf("the LogoutResponse came by %v, want %s", got, method[binding])
			}
			if again := login(t, sp, browser); !again.Prompted {
				t.Error("the IdP session outlived the logout")
			}
		})
		t.Run("idp-initiated-"+binding, func(t *testing.T) {
			sp := newSP(t, "slo-idp-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignResponse, LogoutBinding: binding}, samlsp.Options{})
			browser := newBrowser(t)
			res := login(t, sp, browser)
			start := time.Now()
			reqs, err := sp.BrowseLogout(ctx(t), browser, testidp.KeycloakBrowserLogoutURL(kc))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("IdP-initiated logout took %s", time.Since(start).Round(time.Millisecond))
			if len(reqs) != 1 {
				t.Fatalf("the SP received %d LogoutRequests, want 1", len(reqs))
			}
			if got := sp.SLOMethods(); !slices.Equal(got, []string{method[binding]}) {
				t.Errorf("the LogoutRequest came by %v, want %s", got, method[binding])
			}
			if reqs[0].NameID == nil || reqs[0].NameID.Value != res.NameID {
				t.Errorf("LogoutRequest NameID = %+v, want %q", reqs[0].NameID, res.NameID)
			}
			if again := login(t, sp, browser); !again.Prompted {
				t.Error("the IdP session outlived the logout")
			}
		})
	}
}

// TestKeycloakUnsignedLogout: a client that signs only assertions gets
// unsigned LogoutResponses (no XML signature, no query signature), which
// crewjam refuses, as the single logout profile wants.
func TestKeycloakUnsignedLogout(t *testing.T) {
	for _, binding := range []string{testidp.LogoutPOST, testidp.LogoutRedirect} {
		t.Run(binding, func(t *testing.T) {
			sp := newSP(t, "slo-unsigned-"+binding, testidp.KeycloakSAMLClient{Signing: testidp.SignAssertion, LogoutBinding: binding}, samlsp.Options{})
			browser := newBrowser(t)
			res := login(t, sp, browser)
			_, err := sp.Logout(ctx(t), browser, res)
			if err == nil || !strings.Contains(err.Error(), "signature element not present") {
				t.Fatalf("Logout: %v, want the SP to refuse an unsigned LogoutResponse", err)
			}
		})
	}
}
