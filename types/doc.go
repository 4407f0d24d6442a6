// Package types holds idphooks.d.ts, the TypeScript declarations of the
// hook sandbox (event, api and globals) for editor completion and type
// checks; Init writes it with a jsconfig.json and a starter hook into a
// hooks folder. types_test.go keeps them honest: it type-checks the
// declarations and example hooks with a pinned tsc, with and without the
// DOM lib, checks what Init writes the same way, and checks the Handlers
// interface against the event catalog.
package types
