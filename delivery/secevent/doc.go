// Package secevent sends idphooks' events that have a Shared Signals
// meaning as Security Event Tokens (RFC 8417) by push delivery (RFC
// 8935): the OpenID Shared Signals Framework's CAEP and RISC event
// types, so that receivers that speak it (Okta, Keycloak, authentik and
// the like transmit and receive them) learn of a logout, a password
// change or a deleted account without a webhook of their own.
//
// A Sender is a delivery.Sender: the queued message of an event (the
// Standard Webhooks envelope every receiver's message holds) becomes, at
// each attempt, a JWT with typ secevent+jwt signed with idphooks' active
// key, whose jti is the message's id (the same across attempts and
// replays: receivers dedupe on it), POSTed as application/secevent+jwt.
//
//	after_logout           → caep/event-type/session-revoked
//	after_password_reset   → caep/event-type/credential-change (password, update)
//	after_account_deletion → risc/event-type/account-purged
//	idphooks.test          → ssf/event-type/verification
//
// The subject is a sub_id (RFC 9493): iss_sub (the issuer clients see
// and the user's sub) or, when configured and the event knows one, the
// email address; a session-revoked event whose logout named a session
// (sid) has a complex subject of the user and the session, as CAEP's
// examples do.
package secevent
