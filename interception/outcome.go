package interception

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// Error is an answer idphooks gives in the IdP's place, in the RFC 6749
// §5.2 shape. Description is meant for the end user; Cause stays in the
// log and never reaches the client.
type Error struct {
	Status      int
	Code        string // invalid_request, server_error, temporarily_unavailable, …
	Description string
	Cause       error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.Description + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.Description
}

func (e *Error) Unwrap() error { return e.Cause }

// Denied is a hook's deny: the flow ends with Reason shown to the user.
type Denied struct{ Reason string }

func (e *Denied) Error() string { return "denied: " + e.Reason }

// Unavailable means idphooks could not do its part (sign, store a swap):
// the client is told to retry rather than given a token that would not
// work later.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string { return e.Err.Error() }
func (e *Unavailable) Unwrap() error { return e.Err }

// Unavailablef wraps err as Unavailable.
func Unavailablef(err error) error { return &Unavailable{err} }

// Respond writes err when it is an *Error or a *PageError and returns nil;
// any other error is returned for Caddy to handle.
func Respond(w http.ResponseWriter, err error) error {
	if err == nil {
		return nil
	}
	// A page first: one may carry the protocol error it stands for.
	var pe *PageError
	if errors.As(err, &pe) {
		WritePage(w, pe.Status, pe.Message)
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		WriteError(w, e.Status, e.Code, e.Description)
		return nil
	}
	return err
}

// WriteError writes an RFC 6749 §5.2 style error body, never cached.
func WriteError(w http.ResponseWriter, status int, code, description string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// KeepCORS copies the IdP's CORS headers from its captured answer, so a
// browser client (an SPA at the token or userinfo endpoint) can read the
// error idphooks answers in its place.
func KeepCORS(w http.ResponseWriter, upstream http.Header) {
	for k, v := range upstream {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			w.Header()[k] = v
		}
	}
}
