// Package types holds idphooks.d.ts, the TypeScript declarations of the
// hook sandbox (event, api and globals) for editor completion, and the
// tests that keep them honest: types_test.go type-checks the declarations
// and example hooks with a pinned tsc, and checks the Handlers interface
// against the event catalog.
package types
