package secevent

import (
	"encoding/json"
	"fmt"
	"time"
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
	} `json:"data"`
}

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
		payloadOf = map[string]any{"event_timestamp": at.Unix(), "initiating_entity": "user",
			"credential_type": "password", "change_type": "update"}
	}
	c["sub_id"] = user
	c["events"] = map[string]any{typ: payloadOf}
	return c, nil
}
