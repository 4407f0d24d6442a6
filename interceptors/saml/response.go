package saml

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/beevik/etree"
	"go.uber.org/zap"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/interception"
)

// response handles a Response on its way to an SP: verify it with the
// IdP's certificates, raise before_saml_assertion for a successful login,
// apply the edits or build the denial, re-sign with idphooks' key (always:
// SPs trust only idphooks), then tell after_login.
func (i *Interceptor) response(r *http.Request, doc *etree.Document) ([]byte, error) {
	md, err := i.cfg.IdP.Metadata(r.Context())
	if err != nil {
		return nil, i.unavailable(fmt.Errorf("%w: %w", errNoMetadata, err))
	}
	i.outageOver()
	resp, err := i.verifier(md).VerifyDocument(doc)
	if errors.Is(err, ErrEncrypted) {
		return nil, i.passEncrypted(doc)
	}
	if err != nil {
		return nil, i.refuse("SAML response refused", err)
	}
	// Checked here too although every SP checks them: a response past its
	// time must not be re-signed with a key SPs trust.
	if err := resp.CheckTimes(i.cfg.Now(), i.cfg.Leeway); err != nil {
		return nil, i.refuse("SAML response refused", err)
	}
	signer, err := i.signer()
	if err != nil {
		return nil, i.unavailable(err)
	}
	model := resp.Model()
	if err := i.oneSP(model); err != nil {
		return nil, i.refuse("SAML response refused", err)
	}
	app := model.SPEntityID
	sp := i.sp(app)
	resp.NewAttributeFormat = sp.AttributeNameFormat
	if sp.Sign != 0 {
		resp.Signed = sp.Sign
	}
	if err := i.encryptFor(r.Context(), resp, app, sp); errors.Is(err, errSPMetadata) {
		return nil, i.unavailable(err)
	} else if err != nil {
		return nil, i.refuse("SAML response refused", err)
	}
	success := resp.assertion != nil && model.Status.Code == StatusSuccess
	// What the SP receives, after the hooks' edits, read before Sign
	// (which may encrypt the assertion).
	var after Model
	if success {
		denied, edited, reason, err := i.runAssertionHooks(r, resp, model)
		if err != nil {
			return nil, err
		}
		if denied {
			out, err := signer.Deny(resp, reason)
			if err != nil {
				return nil, i.unavailable(fmt.Errorf("saml: signing the denial: %w", err))
			}
			return out, nil
		}
		// Unedited, only the placement of the signatures may differ; and
		// edited, it is read again only for what reads it.
		after = model
		after.Signed = resp.Signed.String()
		if edited && i.readsAfter(app, model) {
			after = resp.Model()
		}
	}
	out, err := signer.Sign(resp)
	if err != nil {
		return nil, i.unavailable(fmt.Errorf("saml: signing: %w", err))
	}
	if success {
		i.rememberNameID(r, resp, model, after)
		if err := i.afterLogin(r, app, after); err != nil {
			return nil, away(err)
		}
	}
	return out, nil
}

// oneSP refuses an assertion naming several SPs (distinct Audience values)
// when what idphooks does depends on which SP it is: hooks limited to
// some SPs, or settings given for one of the others. The SP is taken to
// be the first Audience, while an SP accepts an assertion naming it
// anywhere in its AudienceRestriction (crewjam even reads the last one):
// a hook denying logins to the SP named second would not run, and an SP's
// encryption certificate would not be used.
func (i *Interceptor) oneSP(m Model) error {
	var others []string
	for _, a := range m.Audiences {
		if a != m.SPEntityID && !slices.Contains(others, a) {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return nil
	}
	disp := i.cfg.Dispatcher
	if disp.HasFilteredHook(events.BeforeSAMLAssertion) || disp.HasFilteredHook(events.AfterLogin) {
		return fmt.Errorf("the assertion names several SPs (%q and %q) while hooks are limited to some applications", m.SPEntityID, others)
	}
	for _, a := range others {
		if _, ok := i.cfg.SPs[a]; ok {
			return fmt.Errorf("the assertion names several SPs (%q and %q) and idphooks has settings for %q", m.SPEntityID, others, a)
		}
	}
	return nil
}

// runAssertionHooks raises before_saml_assertion for the SP and applies
// what the hooks asked for; edited reports whether that changed the
// assertion.
func (i *Interceptor) runAssertionHooks(r *http.Request, resp *Response, model Model) (denied, edited bool, reason string, err error) {
	disp, app := i.cfg.Dispatcher, model.SPEntityID
	if app == "" && disp.HasFilteredHook(events.BeforeSAMLAssertion) {
		return false, false, "", i.refuse("SAML response refused",
			errors.New("the assertion names no SP (no Audience) while hooks are limited to some applications"))
	}
	if !disp.Wants(events.BeforeSAMLAssertion, app) {
		disp.Skip(events.BeforeSAMLAssertion, app, interception.RequestID(r))
		return false, false, "", nil
	}
	ev := events.New(events.BeforeSAMLAssertion, app, i.eventRequest(r))
	ev.User = samlUser(model)
	ev.Data = map[string]any{"saml": model.Map()}
	out := disp.Dispatch(r.Context(), ev, i.policy.Check)
	if out.Err != nil {
		return false, false, "", away(out.Err)
	}
	if out.Denied {
		return true, false, out.Reason, nil
	}
	edited, err = resp.Apply(i.policy, out.Ops)
	if err != nil {
		// The sandbox checked each call with the same policy: an edit
		// refused here is a bug, and the login must not go on unedited.
		i.log.Error("hook edits could not be applied", zap.String("sp", app), zap.Error(err))
		return true, false, "The sign-in could not be completed.", nil
	}
	return false, edited, "", nil
}

// readsAfter reports whether anything reads the model of what the SP
// receives: after_login's hooks (afterLogin), or the memory of NameIDs
// hooks set (rememberNameID, which needs a SessionIndex).
func (i *Interceptor) readsAfter(app string, before Model) bool {
	return i.cfg.NameIDs != nil && before.SessionIndex != "" || i.cfg.Dispatcher.Wants(events.AfterLogin, app)
}

// afterLogin tells the after_login hooks of a successful SAML login, m
// being what the SP received.
// An error is the outbox's refusal: the SP must not get the login then.
func (i *Interceptor) afterLogin(r *http.Request, app string, m Model) error {
	disp := i.cfg.Dispatcher
	if !disp.Wants(events.AfterLogin, app) {
		disp.Skip(events.AfterLogin, app, interception.RequestID(r))
		return nil
	}
	ev := events.New(events.AfterLogin, app, i.eventRequest(r))
	ev.User = samlUser(m)
	ev.Data = map[string]any{
		"protocol":      "saml",
		"authn_context": m.AuthnContextClassRef,
		"session_index": m.SessionIndex,
	}
	return disp.Dispatch(r.Context(), ev, nil).Err
}

// samlUser is the person of a login as events show it: sub is the NameID,
// then each attribute by its FriendlyName (else its Name), one value as a
// string, several as a list.
func samlUser(m Model) map[string]any {
	user := make(map[string]any, len(m.Attributes)+2)
	// In name order, the first attribute taking a key keeps it, so that
	// two attributes of one FriendlyName always give the same user.
	for _, name := range slices.Sorted(maps.Keys(m.Attributes)) {
		a := m.Attributes[name]
		key := a.FriendlyName
		if key == "" {
			key = name
		}
		if _, taken := user[key]; taken {
			continue
		}
		if len(a.Values) == 1 {
			user[key] = a.Values[0]
		} else {
			user[key] = append([]string(nil), a.Values...)
		}
	}
	user["sub"] = m.NameID.Value
	if m.NameID.Format != "" {
		user["name_id_format"] = m.NameID.Format
	}
	return user
}
