// Package sandbox runs customer hooks: JavaScript modules that export
// on<Event> handlers, compiled once and run with limits in goja.
//
// The sandbox knows nothing of HTTP interception, Caddy or any identity
// protocol. A caller hands it plain event data and a description of the api
// object the hook may use; the sandbox returns the list of api calls the hook
// made (Ops), in order. Interpreting those calls — setting a claim, denying a
// login — is the caller's business.
package sandbox

import (
	"context"
	"time"
)

// API describes the `api` object a handler receives. It is data, so the
// event catalog (not the sandbox) decides what each event allows.
type API struct {
	// Objects are namespaced method groups, e.g. "idToken" with methods
	// "setClaim" and "removeClaim" becomes api.idToken.setClaim(...).
	Objects map[string][]string

	// Functions are top-level methods, e.g. "deny" becomes api.deny(...).
	Functions []string

	// Check, if set, is called synchronously while the hook runs, once per
	// api call. A non-nil error is thrown into the hook as a TypeError (so
	// the author sees it where it happened) and the call is not recorded.
	Check func(Op) error
}

// Op is one api call a hook made: api.<Object>.<Method>(Args...) or, for a
// top-level function, api.<Method>(Args...) with Object "". Args are
// exported to plain Go values (string, float64, int64, bool, nil,
// []any, map[string]any).
type Op struct {
	Object string
	Method string
	Args   []any
}

// Invocation is one run of one handler of one hook.
type Invocation struct {
	// Handler is the exported function name, e.g. "onBeforeToken".
	Handler string

	// Event becomes the handler's first argument, as plain data.
	Event map[string]any

	// API describes the handler's second argument.
	API API

	// EventType and RequestID label the hook's console lines. EventType
	// defaults to Event["type"].
	EventType string
	RequestID string

	// Timeout bounds the whole run, including awaited promises and fetch
	// calls. Zero means the engine default. The run also ends when ctx ends.
	Timeout time.Duration

	// Redact are values of this run's event hidden like the hook's
	// secrets in everything the run logs or reports (console lines,
	// errors, stacks): a password the event carries.
	Redact []string
}

// Result is what a completed run left behind.
type Result struct {
	// Ops are the api calls in the order the hook made them.
	Ops []Op

	// Duration is the wall time of the run.
	Duration time.Duration
}

// Runner is the narrow view the rest of idphooks takes of a compiled hook.
type Runner interface {
	// Exports reports whether the hook exports the named handler.
	Exports(handler string) bool

	// Run runs one handler. A hook that throws, rejects, times out or
	// exceeds a limit returns a non-nil error and no Ops: a failed hook's
	// partial changes are never applied. Run does not log the failure:
	// the caller, which knows the event and what the failure leads to,
	// logs it once (Kind names its kind).
	Run(ctx context.Context, inv Invocation) (*Result, error)
}
