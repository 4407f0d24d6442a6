// Package webhook sends idphooks' events to HTTP receivers the way
// Standard Webhooks (standardwebhooks.com) says: a JSON envelope
// {"type","timestamp","data"} POSTed with webhook-id, webhook-timestamp
// and webhook-signature headers, so that a receiver verifies it with an
// off-the-shelf library.
//
// A notify webhook is a delivery.Sender (Sender): the worker pool calls it
// once per attempt of a queued message. An enrich webhook is a
// sandbox.Runner (Enricher): the events dispatcher runs it like a sync JS
// hook, and the receiver's answer becomes the same api operations a hook
// records.
//
// # Signatures
//
// Every whsec_ secret of an endpoint signs (v1, HMAC-SHA256 over
// "id.timestamp.body"), and so does every whsk_ key (v1a, Ed25519), the
// signatures space-separated in one webhook-signature header: while a
// secret rotates, the old and the new one both sign, and a receiver that
// knows either verifies.
//
// # Enrich answers
//
// The receiver of an enrich call answers 2xx with a JSON body in one of
// two formats, told apart by their keys (see ParseAnswer):
//
// idphooks' own, the operations a JS hook's api records, in order:
//
//	{"ops": [
//	  {"op": "idToken.setClaim", "args": ["tier", "gold"]},
//	  {"op": "accessToken.removeClaim", "args": ["legacy"]},
//	  {"op": "deny", "args": ["account blocked in CRM"]}
//	]}
//
// "op" is "<object>.<method>" or a top-level function, as in the hook's
// api (an "api." prefix is allowed); {"object": "idToken", "method":
// "setClaim", "args": [...]} says the same. An empty body, a 204 or {}
// change nothing.
//
// Okta inline hook commands, so an existing Okta hook service moves over
// unchanged:
//
//	{"commands": [
//	  {"type": "com.okta.identity.patch",
//	   "value": [{"op": "add", "path": "/claims/tier", "value": "gold"}]}
//	],
//	 "error": {"errorSummary": "..."}}
//
// mapped as OktaCommands documents.
package webhook
