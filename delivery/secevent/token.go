package secevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/idphooks/idphooks/events"
)

// message is what a Security Event Token is made of: the envelope every
// receiver's queued message holds (see events.Envelope), the parts a
// SET uses.
type message struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		ID          string         `json:"id"`
		Application string         `json:"application"`
		User        map[string]any `json:"user"`
		// SID is the session a logout ended, when the IdP's token named
		// one.
		SID any `json:"sid"`
		// Protocol, Issuer and SessionIndexes are a SAML logout's: the
		// user's sub is then a NameID, which only its IdP's entity id
		// (Issuer) qualifies.
		Protocol       string   `json:"protocol"`
		Issuer         string   `json:"issuer"`
		SessionIndexes []string `json:"session_indexes"`
		// MFAType and Action are an after_mfa_change's: which factor,
		// and whether it was added or removed.
		MFAType string `json:"mfa_type"`
		Action  string `json:"action"`
	} `json:"data"`
}

// mfaCredentials and mfaChanges map an after_mfa_change's mfa_type and
// action to CAEP credential-change's credential_type and change_type.
var (
	mfaCredentials = map[string]string{"totp": "app", "sms": "phone-sms", "webauthn": "fido2-roaming", "webauthn-passwordless": "fido2-platform"}
	mfaChanges     = map[string]string{"added": "create", "removed": "delete", "updated": "update"}
)

// errNoMeaning is a message whose event has no SET as it was raised.
var errNoMeaning = errors.New("no Shared Signals meaning")

// claims builds the SET of a queued message (id, event, payload) for
// issuer and audience, issued at now.
func (s *Sender) claims(id, event string, payload []byte, issuer string, now time.Time) (map[string]any, error) {
	var m message
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("message %s: not an event envelope: %v", id, err)
	}
	if m.Type != event {
		return nil, fmt.Errorf("message %s: the envelope holds a %q event, the message says %q", id, m.Type, event)
	}
	at := m.Timestamp
	if at.IsZero() {
		at = now
	}
	c := map[string]any{
		"iss": issuer,
		"aud": s.audience,
		"iat": now.Unix(),
		// The message's id: the same across attempts and replays, so a
		// receiver that got one attempt drops the next.
		"jti": id,
	}
	if m.Data.ID != "" {
		// RFC 8417 §2.2: the SETs of one event (one per receiver) share
		// it.
		c["txn"] = m.Data.ID
	}
	if event == TestEvent {
		c["events"] = map[string]any{Verification: map[string]any{"state": id}}
		return c, nil
	}
	typ, ok := types[event]
	if !ok {
		return nil, fmt.Errorf("message %s: event %s has no Shared Signals meaning", id, event)
	}
	subIssuer, sid := issuer, ""
	if sid, _ = m.Data.SID.(string); m.Data.Protocol == "saml" {
		// A NameID is the SAML IdP's name for the person, not a sub of
		// the issuer OIDC clients see.
		subIssuer, sid = m.Data.Issuer, ""
		if len(m.Data.SessionIndexes) == 1 {
			sid = m.Data.SessionIndexes[0]
		}
	}
	if subIssuer == "" {
		return nil, fmt.Errorf("message %s: %w (a SAML logout without its IdP's entity id)", id, errNoSubject)
	}
	user := userSubject(s.subject, subIssuer, m.Data.User)
	if user == nil {
		return nil, fmt.Errorf("message %s: %w", id, errNoSubject)
	}
	payloadOf := map[string]any{}
	switch typ {
	case SessionRevoked:
		payloadOf = map[string]any{"event_timestamp": at.Unix(), "initiating_entity": "user"}
		if sid != "" {
			user = sessionSubject(user, sid)
		}
	case CredentialChange:
		credential, change := "password", "update"
		if event == events.AfterMFAChange {
			// CAEP's credential types: a one-time-code generator is an
			// "app"; a factor idphooks cannot name has no SET.
			var ok bool
			if credential, ok = mfaCredentials[m.Data.MFAType]; !ok {
				return nil, fmt.Errorf("message %s: after_mfa_change of mfa_type %q: %w", id, m.Data.MFAType, errNoMeaning)
			}
			if change, ok = mfaChanges[m.Data.Action]; !ok {
				return nil, fmt.Errorf("message %s: after_mfa_change with action %q: %w", id, m.Data.Action, errNoMeaning)
			}
		}
		payloadOf = map[string]any{"event_timestamp": at.Unix(), "initiating_entity": "user",
			"credential_type": credential, "change_type": change}
	}
	c["sub_id"] = user
	c["events"] = map[string]any{typ: payloadOf}
	return c, nil
}
