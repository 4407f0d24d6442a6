package cluster

import (
	"net/http"
	"net/http/cookiejar"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// countHook counts each user's token answers in the hooks' cache and
// puts the count into the ID token.
const countHook = `
exports.onBeforeToken = async (event, api) => {
  const key = "logins:" + event.user.sub;
  const n = ((await cache.get(key)) ?? 0) + 1;
  await cache.set(key, n, { ttl: 600 });
  api.idToken.setClaim("login_count", n);
};
`

// The hooks' cache is the cluster's: logins through A, B, A and the
// balancer see one count go on.
func TestHookCacheShared(t *testing.T) {
	c := startCluster(t, clusterOptions{hooks: map[string]string{"count.js": countHook}})
	cl, _ := idp.Client(testidp.OIDCProviderPostClientID)
	for i, via := range []*caddyProc{c.A, c.B, c.A, nil} {
		jar, _ := cookiejar.New(nil)
		f := plainLogin(t, c, c.client(jar, via), cl)
		if got := e2etest.ClaimsOf(t, f.IDToken)["login_count"]; got != float64(i+1) {
			name := "LB"
			if via != nil {
				name = via.name
			}
			t.Fatalf("login %d (through %s): login_count = %v, want %d", i+1, name, got, i+1)
		}
	}
}

// plainLogin runs the code flow as TestUser in browser with no check of
// any hook's claims.
func plainLogin(t *testing.T, c *cluster, browser *http.Client, cl testidp.Client) *e2etest.Flow {
	t.Helper()
	f, err := e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: c.issuer, Issuer: c.issuer, Client: cl,
		User: testidp.TestUser.Username, Password: testidp.TestUser.Password,
		RedirectURI: redirectURI, Browser: browser,
		AuthOptions: []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "consent")},
	})
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	return f
}
