package saml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// NameIDs remembers, per IdP session and SP, the NameID a hook gave the
// SP in place of the IdP's: the IdP's later LogoutRequests name its own,
// and an SP that finds the session by NameID would not find it. Keys are
// not secret; implementations hash them (the swap table does).
//
// An error wrapping ErrNameIDsUnavailable says the store cannot serve now
// (a full disk, a shared store that is away); the store logs such an
// outage once, so the interceptor does not log each request it meets.
type NameIDs interface {
	Put(ctx context.Context, key string, value []byte, exp time.Time) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// ErrNameIDsUnavailable is wrapped by NameIDs errors while the store
// cannot serve.
var ErrNameIDsUnavailable = errors.New("remembered NameIDs unavailable")

// nameIDTTL bounds a remembered NameID when the assertion names no
// SessionNotOnOrAfter: an IdP session rarely outlives a day.
const nameIDTTL = 24 * time.Hour

// nameIDKey names what the IdP knows the session by: its SessionIndex and
// its own NameID (Keycloak's session indexes are per SP already; the
// NameID keeps two SPs of one SimpleSAMLphp session apart only when their
// NameIDs differ, which is what an ambiguous pair would need).
func nameIDKey(sessionIndex string, idp NameID) string {
	return "saml-nameid\x00" + sessionIndex + "\x00" + idp.Value + "\x00" + idp.SPNameQualifier
}

// rememberNameID files the NameID the SP received when a hook changed it.
// A store that fails costs the rewrite at logout, not the login: logged,
// unless the store is away (it logs its outage once).
func (i *Interceptor) rememberNameID(r *http.Request, resp *Response, before, after Model) {
	if i.cfg.NameIDs == nil || before.SessionIndex == "" || before.NameID == after.NameID {
		return
	}
	exp := i.cfg.Now().Add(nameIDTTL)
	if t, ok := resp.sessionNotOnOrAfter(); ok {
		exp = t
	}
	b, _ := json.Marshal(after.NameID)
	if err := i.cfg.NameIDs.Put(r.Context(), nameIDKey(before.SessionIndex, before.NameID), b, exp); err != nil && !errors.Is(err, ErrNameIDsUnavailable) {
		i.log.Warn("the NameID a hook set is not remembered; the IdP's logout requests to this SP will name the IdP's",
			zap.String("sp", after.SPEntityID), zap.Error(err))
	}
}

// restoreNameID gives an IdP's LogoutRequest the NameID the SP knows, when
// a hook changed it at login. A store that cannot answer is an error
// wrapping ErrNameIDsUnavailable: sent on with the IdP's NameID, the
// request would not find the SP's session, which would outlive the
// logout unnoticed.
func (i *Interceptor) restoreNameID(ctx context.Context, l *Logout) error {
	if i.cfg.NameIDs == nil || l.Kind != KindLogoutRequest {
		return nil
	}
	m := l.Model()
	if m.NameID == nil {
		return nil
	}
	for _, si := range m.SessionIndexes {
		b, err := i.cfg.NameIDs.Get(ctx, nameIDKey(si, *m.NameID))
		if errors.Is(err, ErrNameIDsUnavailable) {
			return err
		}
		if err != nil {
			continue // none remembered: the SP got the IdP's
		}
		var n NameID
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("%w: remembered NameID: %v", ErrMalformed, err)
		}
		return l.SetNameID(n)
	}
	return nil
}

// sessionNotOnOrAfter is the AuthnStatement's SessionNotOnOrAfter, when
// it names one within 30 days.
func (r *Response) sessionNotOnOrAfter() (time.Time, bool) {
	if r.assertion == nil {
		return time.Time{}, false
	}
	st := child(r.assertion, NSAssertion, "AuthnStatement")
	if st == nil {
		return time.Time{}, false
	}
	t, err := parseTime(st.SelectAttrValue("SessionNotOnOrAfter", ""))
	if err != nil || time.Until(t) > 30*24*time.Hour {
		return time.Time{}, false
	}
	return t, true
}
