package samlsp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/crewjam/saml"
)

// Logout runs an SP-initiated single logout for the session of login: a
// signed LogoutRequest (NameID and SessionIndex of the login) through the
// HTTP-Redirect binding to the IdP's SLO endpoint, and the IdP's
// LogoutResponse, by whichever binding the IdP answers with, to the SP's
// SLO endpoint, where crewjam validates it (signature, Destination,
// Issuer, Success status, InResponseTo). browser must carry the IdP
// session's cookies, as after Login.
func (s *SP) Logout(ctx context.Context, browser *http.Client, login *Result) (*saml.LogoutResponse, error) {
	if browser == nil || browser.Jar == nil {
		return nil, errors.New("samlsp: Logout needs the browser (with its cookie jar) that logged in")
	}
	slo := s.SP.GetSLOBindingLocation(saml.HTTPRedirectBinding)
	if slo == "" {
		return nil, errors.New("samlsp: the IdP metadata has no HTTP-Redirect SingleLogoutService")
	}
	req, err := s.SP.MakeLogoutRequest(slo, login.NameID, saml.WithSessionIndex(login.SessionIndex))
	if err != nil {
		return nil, fmt.Errorf("samlsp: LogoutRequest: %w", err)
	}
	relay := newRelayState()
	u, err := s.SP.RedirectLogoutRequestURL(req, relay)
	if err != nil {
		return nil, fmt.Errorf("samlsp: LogoutRequest: %w", err)
	}
	s.mu.Lock()
	s.logouts[relay] = req.ID
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.logouts, relay)
		s.mu.Unlock()
	}()
	b, err := newBrowser(browser)
	if err != nil {
		return nil, err
	}
	err = b.walk(ctx, u.String(), nil, func(page *url.URL) bool {
		return s.ours(page) && page.Path == SLOPath
	}, false)
	if err != nil {
		return nil, err
	}
	o, ok := s.take(relay)
	if !ok || (o.logout == nil && o.err == nil) {
		return nil, fmt.Errorf("samlsp: the browser reached the SLO endpoint but the SP recorded no LogoutResponse for RelayState %q", relay)
	}
	return o.logout, o.err
}

// BrowseLogout opens start (an IdP's own logout page, such as Keycloak's
// /realms/R/protocol/openid-connect/logout) in browser and goes through
// it as a user with scripts would: confirmation forms submitted, SAML POST
// binding pages posted, redirects followed, until a page has no form. The
// IdP's LogoutRequests that reach the SP on the way are validated by
// crewjam and answered with a signed LogoutResponse (Redirect binding when
// the request came by Redirect, else POST); it returns those the SP
// accepted, in order, or the first one it refused.
func (s *SP) BrowseLogout(ctx context.Context, browser *http.Client, start string) ([]*saml.LogoutRequest, error) {
	if browser == nil || browser.Jar == nil {
		return nil, errors.New("samlsp: BrowseLogout needs the browser (with its cookie jar) that logged in")
	}
	s.mu.Lock()
	s.idpReqs = nil
	delete(s.outcomes, idpLogoutKey)
	s.mu.Unlock()
	b, err := newBrowser(browser)
	if err != nil {
		return nil, err
	}
	if err := b.walk(ctx, start, nil, func(*url.URL) bool { return false }, true); err != nil {
		return nil, err
	}
	if o, ok := s.take(idpLogoutKey); ok && o.err != nil {
		return nil, o.err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idpReqs, nil
}

// idpLogoutKey is where serveSLO records a refused IdP LogoutRequest.
const idpLogoutKey = "\x00idp-logout"

// serveSLO takes the IdP's LogoutResponse to a LogoutRequest of Logout, or
// the IdP's own LogoutRequest, which it answers.
func (s *SP) serveSLO(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.sloSeen = append(s.sloSeen, r.Method)
	s.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	relay := r.Form.Get("RelayState")
	if r.Form.Get("SAMLResponse") != "" {
		s.mu.Lock()
		id := s.logouts[relay]
		s.mu.Unlock()
		resp, err := s.SP.ParseLogoutResponse(r, []string{id})
		if err != nil {
			err = fmt.Errorf("samlsp: the SP refused the LogoutResponse: %w", explain(err))
			s.record(relay, &outcome{err: err})
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		s.record(relay, &outcome{logout: resp})
		fmt.Fprintln(w, "logged out")
		return
	}
	if r.Form.Get("SAMLRequest") == "" {
		http.Error(w, "no SAMLRequest or SAMLResponse", http.StatusBadRequest)
		return
	}
	req, err := s.SP.ValidateLogoutRequest(r)
	if err != nil {
		err = fmt.Errorf("samlsp: the SP refused the IdP's LogoutRequest: %w", explain(err))
		s.record(idpLogoutKey, &outcome{err: err})
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.idpReqs = append(s.idpReqs, req)
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		u, err := s.SP.MakeRedirectLogoutResponse(req.ID, relay)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	page, err := s.SP.MakePostLogoutResponse(req.ID, relay)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(page)
}
