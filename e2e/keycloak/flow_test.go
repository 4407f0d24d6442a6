package keycloak

import (
	"testing"

	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
)

// codeFlow runs e2etest.CodeFlow through px with discovery from the
// realm's issuer on the proxy (px.Issuer()); issuer is the issuer the RP
// expects in discovery and tokens. The authorization endpoint must be on
// the proxy's origin, and Keycloak puts at_hash into code-flow ID tokens:
// the rewritten one must carry it too.
func codeFlow(t *testing.T, px *proxy, issuer string, c testidp.Client, user, password string) (*e2etest.Flow, error) {
	t.Helper()
	return e2etest.CodeFlow(t, e2etest.FlowConfig{
		DiscoveryURL: px.Issuer(), Issuer: issuer, Client: c, User: user, Password: password,
		RedirectURI: redirectURI, AuthOrigin: px.Origin, RequireATHash: true,
	})
}
