// Package webhooks holds, for every event of the catalog, what a webhook
// receiver gets: a sample body (<event>.sample.json, the Standard Webhooks
// envelope around the event's fixture) and its JSON Schema
// (<event>.schema.json, draft 2020-12). They are generated from
// examples/fixtures by `go test ./examples/webhooks -update`; the test
// keeps them current and validates each sample against its schema.
package webhooks
