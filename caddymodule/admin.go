package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/events"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// traces keeps the last dispatches of every idp_hooks handler of the
// process, for the admin endpoint. It outlives config reloads, as the
// admin endpoint does.
var traces = events.NewTraceLog(512)

// handlers are the provisioned handlers, by the order they were provisioned,
// for the admin endpoint's view of the hooks.
var (
	handlersMu sync.Mutex
	handlers   = map[*Handler]bool{}
)

// AdminAPI serves, on Caddy's admin endpoint, why hooks ran or not:
//
//	GET  /idp-hooks/traces?request_id=&event=&hook=&application=&limit=
//	GET  /idp-hooks/hooks
//	GET  /idp-hooks/receivers
//	GET  /idp-hooks/deliveries?receiver=&state=pending|dead&cursor=&limit=  or ?id=
//	POST /idp-hooks/replay     {"id"} | {"receiver", "since"}
//	POST /idp-hooks/send-test  {"receiver"}
//	GET  /idp-hooks/audit?limit=
//
// A trace names the event, the hooks that matched, were skipped (and why)
// or failed, the api calls they made (names only, no values) and the time
// taken. It holds no tokens, secrets or passwords.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.idp_hooks",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/idp-hooks/traces", Handler: caddy.AdminHandlerFunc(serveTraces)},
		{Pattern: "/idp-hooks/hooks", Handler: caddy.AdminHandlerFunc(serveHooks)},
		{Pattern: "/idp-hooks/receivers", Handler: caddy.AdminHandlerFunc(serveReceivers)},
		{Pattern: "/idp-hooks/deliveries", Handler: caddy.AdminHandlerFunc(serveDeliveries)},
		{Pattern: "/idp-hooks/replay", Handler: caddy.AdminHandlerFunc(serveReplay)},
		{Pattern: "/idp-hooks/send-test", Handler: caddy.AdminHandlerFunc(serveSendTest)},
		{Pattern: "/idp-hooks/enable", Handler: caddy.AdminHandlerFunc(serveEnable)},
		{Pattern: "/idp-hooks/audit", Handler: caddy.AdminHandlerFunc(serveAudit)},
	}
}

func serveTraces(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	q := r.URL.Query()
	f := events.TraceFilter{RequestID: q.Get("request_id"), Event: q.Get("event"), Hook: q.Get("hook"),
		Application: q.Get("application"), Limit: 100}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("limit must be a positive number")}
		}
		f.Limit = n
	}
	return writeJSON(w, traces.Recent(f))
}

// hookView is one configured hook as the admin endpoint shows it.
type hookView struct {
	Hook         string   `json:"hook"`
	Path         string   `json:"path"`
	Mode         string   `json:"mode,omitempty"`
	OnError      string   `json:"on_error,omitempty"`
	Applications []string `json:"applications,omitempty"`
	Events       []string `json:"events"`
	// Unraised are events it handles that no configured interceptor
	// raises: handlers that never run.
	Unraised []string `json:"unraised,omitempty"`
}

func serveHooks(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	handlersMu.Lock()
	var out []hookView
	for h := range handlers {
		out = append(out, h.hookViews()...)
	}
	handlersMu.Unlock()
	if out == nil {
		out = []hookView{}
	}
	return writeJSON(w, out)
}

func (h *Handler) hookViews() []hookView {
	var out []hookView
	for i, eh := range h.dispatcher.Hooks() {
		if i >= len(h.Hooks) {
			break // enrich webhooks follow the JS hooks
		}
		hc := h.Hooks[i]
		out = append(out, hookView{Hook: eh.Name, Path: hc.Path, Mode: hc.Mode, OnError: hc.OnError,
			Applications: hc.Applications, Events: eh.Events(), Unraised: eh.Unraised(h.raised())})
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var _ caddy.AdminRouter = AdminAPI{}
