// Package recording keeps a bounded, rotating sample of real lifecycle
// events with what the configured hooks did on each, and reads it back, so
// that a new version of a hook can be replayed on real traffic before it
// goes live (`caddy idp-hooks replay`).
//
// The file is JSON Lines (one Record per line), rotated by size the way
// Caddy rotates its own log files (timberjack). Events are kept as hooks
// see them: the same data async hooks receive, which never holds tokens,
// client secrets, codes or passwords.
package recording
