package sandbox

import (
	"errors"
	"fmt"
)

// Kinds of hook failure. A *Error wraps exactly one of them, so callers can
// pick a metric label or a log message with errors.Is.
var (
	// ErrThrown: the handler threw, or its promise rejected.
	ErrThrown = errors.New("hook threw")
	// ErrTimeout: the run outlived its timeout or its context.
	ErrTimeout = errors.New("hook timed out")
	// ErrLimit: the run exceeded a resource limit (call stack, memory,
	// output size).
	ErrLimit = errors.New("hook exceeded a limit")
	// ErrUnsettled: the handler's promise can never settle (it awaits
	// something nothing will resolve).
	ErrUnsettled = errors.New("hook promise never settles")
)

// Error is a failed run. Detail and Stack never hold a secret value: they
// are redacted before the Error is built.
type Error struct {
	Hook    string
	Handler string
	Kind    error

	// Detail says what failed. For a thrown or rejected value it ends
	// with the innermost place in the hook's files where it arose, when
	// one is known: "TypeError: Cannot read property 'tier' of undefined
	// (hook.js:2:32)".
	Detail string

	// Stack lists the calls in the hook's own files (the hook and the
	// files it required) that led to a thrown or rejected value,
	// innermost first, one "at fn (file:line:col)" per line, at most 20;
	// files are named relative to the hook's folder. Empty when no place
	// is known: a non-Error value rejected by an async function, a
	// timeout, a limit. For an internal error (a Go panic under the run)
	// it holds the Go calls that led to the panic instead, for the bug
	// report. Bounded like Detail. See also the Stack function.
	Stack string

	// Recorded are the api calls the run made before it failed. They are
	// never applied; a caller may still honour one whose intent must not
	// be lost with the run (a deny made before a later line threw). Empty
	// for a run abandoned at its deadline: its calls cannot be read
	// safely while it may still be running.
	Recorded []Op

	overMemory bool // stopped by the memory guard
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("hook %s: %s: %v", e.Hook, e.Handler, e.Kind)
	}
	return fmt.Sprintf("hook %s: %s: %v: %s", e.Hook, e.Handler, e.Kind, e.Detail)
}

func (e *Error) Unwrap() error { return e.Kind }

// Kind names the kind of a failed run's error, as logs and the errors
// metric label it: "thrown", "timeout", "limit", "unsettled", or
// "internal" for an error that wraps none of those.
func Kind(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrLimit):
		return "limit"
	case errors.Is(err, ErrUnsettled):
		return "unsettled"
	case errors.Is(err, ErrThrown):
		return "thrown"
	}
	return "internal"
}
