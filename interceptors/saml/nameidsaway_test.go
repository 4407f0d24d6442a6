package saml

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/redisconn"
	"github.com/idphooks/idphooks/store"
	"github.com/idphooks/idphooks/store/redisstore"
)

// storeNameIDs is the swap table as NameIDs, its unavailable errors
// mapped as caddymodule maps them.
type storeNameIDs struct{ s *store.Swaps }

func (n storeNameIDs) Put(ctx context.Context, key string, value []byte, exp time.Time) error {
	return nameIDsErr(n.s.Put(ctx, key, value, exp))
}

func (n storeNameIDs) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := n.s.Get(ctx, key)
	return b, nameIDsErr(err)
}

func nameIDsErr(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrNameIDsUnavailable, err)
	}
	return err
}

// With the state store away (Redis down: nothing listens where it
// should), an IdP's LogoutRequest is not sent on naming the IdP's NameID,
// which the SP that got a hook's NameID would not find (its session would
// outlive the logout): the browser gets a retry page. The login itself
// goes on (the NameID is then not remembered), and neither logs a line
// per request: the store logs its outage once.
func TestNameIDsAwayFailsLogoutClosed(t *testing.T) {
	conn, err := redisconn.Open(redisconn.Options{Address: "127.0.0.1:1", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	swaps, err := store.NewSwaps(redisstore.New(conn).Bucket("swaps"), store.SwapOptions{Secret: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	h := newHarness(t, `exports.onBeforeSamlAssertion = (event, api) => {
  api.assertion.setNameID("crm-42", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
};`, func(c *Config) { c.NameIDs, c.Logger = storeNameIDs{swaps}, zap.New(core) })
	h.page = serve("text/html", postPage(idpSign(t, keycloakResponse(keycloakAssertion("alice@example.com", 0)), "dsig", "ID_a1b2c3"), ""))
	for range 2 {
		msg, _ := sentMessage(t, h.do(t, "POST", "/x").Body.Bytes())
		if r, err := hooksVerifier().Verify(msg); err != nil || r.Model().NameID.Value != "crm-42" {
			t.Fatalf("login: %v", err)
		}
	}
	h.page = serve("text/html", postPageFor("SAMLRequest", kcSignedRequest(t), ""))
	for range 2 {
		w := h.do(t, "POST", "/realms/acme/protocol/saml")
		if w.Code < 500 || strings.Contains(w.Body.String(), "SAMLRequest") || !strings.Contains(w.Body.String(), "try again") {
			t.Fatalf("logout with the store away: %d %s", w.Code, w.Body)
		}
	}
	if n := logs.FilterLevelExact(zap.WarnLevel).Len() + logs.FilterLevelExact(zap.ErrorLevel).Len(); n > 0 {
		t.Errorf("%d lines for an outage the store logs itself: %v", n, logs.All())
	}
}
