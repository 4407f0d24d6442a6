// Package hooktest runs one hook on a sample event and reports what it
// did: the changes it asked for, its console output and its duration. It
// backs `caddy idp-hooks test <hook.js> --event <fixture.json>`.
package hooktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// Fixture is a sample event file. Only Type and Event are required; the
// rest lets a fixture stand in for a hook's config.
type Fixture struct {
	// Type is the event id, e.g. "before_token".
	Type string `json:"type"`
	// Event is the event as the hook receives it.
	Event map[string]any `json:"event"`
	// API overrides the catalog's api of Type, for events under design.
	API *struct {
		Objects   map[string][]string `json:"objects,omitempty"`
		Functions []string            `json:"functions,omitempty"`
	} `json:"api,omitempty"`
	// Secrets, AllowedHosts, AllowedCIDRs and Timeout mirror the hook's
	// config block.
	Secrets      map[string]string `json:"secrets,omitempty"`
	AllowedHosts []string          `json:"allowed_hosts,omitempty"`
	AllowedCIDRs []string          `json:"allowed_cidrs,omitempty"`
	Timeout      string            `json:"timeout,omitempty"`
}

// Run runs the hook at hookPath on the fixture at fixturePath and writes a
// report to w. It returns the hook's error, if any, after reporting it.
func Run(ctx context.Context, hookPath, fixturePath string, w io.Writer) error {
	fx, err := readFixture(fixturePath)
	if err != nil {
		return err
	}
	api, err := fx.api()
	if err != nil {
		return err
	}
	timeout := sandbox.DefaultTimeout
	if fx.Timeout != "" {
		if timeout, err = time.ParseDuration(fx.Timeout); err != nil {
			return fmt.Errorf("hooktest: %s: timeout: %w", fixturePath, err)
		}
	}
	core, logs := observer.New(zap.DebugLevel)
	engine, err := sandbox.New(sandbox.Options{Timeout: timeout})
	if err != nil {
		return err
	}
	hook, err := engine.Compile(hookPath, sandbox.HookOptions{
		Secrets:      fx.Secrets,
		AllowedHosts: fx.AllowedHosts,
		AllowedCIDRs: fx.AllowedCIDRs,
		Logger:       zap.New(core),
	})
	if err != nil {
		return err
	}
	handler := events.HandlerName(fx.Type)
	fmt.Fprintf(w, "hook:     %s\nevent:    %s (%s)\n", hook.Path(), fx.Type, handler)
	if !hook.Exports(handler) {
		fmt.Fprintf(w, "result:   not handled: the hook exports %s, not %s\n", strings.Join(hook.Handlers(), ", "), handler)
		return nil
	}
	requestID, _ := lookup(fx.Event, "request", "id").(string)
	start := time.Now()
	res, runErr := hook.Run(ctx, sandbox.Invocation{
		Handler:   handler,
		Event:     fx.Event,
		API:       api,
		EventType: fx.Type,
		RequestID: requestID,
	})
	fmt.Fprintf(w, "duration: %s\n", time.Since(start).Round(time.Microsecond))
	if runErr != nil {
		fmt.Fprintf(w, "result:   failed: %v\n", runErr)
	} else if len(res.Ops) == 0 {
		fmt.Fprintf(w, "result:   no changes\n")
	} else {
		fmt.Fprintf(w, "changes:\n")
		for _, op := range res.Ops {
			fmt.Fprintf(w, "  %s\n", FormatOp(op))
		}
	}
	printLogs(w, logs.All())
	return runErr
}

func readFixture(path string) (*Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hooktest: %w", err)
	}
	var fx Fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		return nil, fmt.Errorf("hooktest: %s: %w", path, err)
	}
	if fx.Type == "" {
		fx.Type, _ = fx.Event["type"].(string)
	}
	if fx.Event == nil {
		return nil, fmt.Errorf("hooktest: %s: no \"event\"", path)
	}
	return &fx, nil
}

// api is what the hook may call: the fixture's own description, else the
// catalog's for its event type.
func (fx *Fixture) api() (sandbox.API, error) {
	if fx.API != nil {
		return sandbox.API{Objects: fx.API.Objects, Functions: fx.API.Functions}, nil
	}
	spec, ok := events.Lookup(fx.Type)
	if !ok {
		return sandbox.API{}, fmt.Errorf("hooktest: unknown event type %q", fx.Type)
	}
	if spec.Mode == events.Async {
		return sandbox.API{}, nil
	}
	return spec.API(nil), nil
}

// FormatOp renders an op as the call the hook made:
// api.idToken.setClaim("tier", "gold").
func FormatOp(op sandbox.Op) string {
	var b strings.Builder
	b.WriteString("api.")
	if op.Object != "" {
		b.WriteString(op.Object + ".")
	}
	b.WriteString(op.Method + "(")
	for i, a := range op.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		j, err := json.Marshal(a)
		if err != nil {
			j = []byte(fmt.Sprint(a))
		}
		b.Write(j)
	}
	b.WriteString(")")
	return b.String()
}

func printLogs(w io.Writer, entries []observer.LoggedEntry) {
	var lines []string
	for _, e := range entries {
		lines = append(lines, fmt.Sprintf("  %-5s %s", strings.ToUpper(e.Level.String()), e.Message))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "logs:\n%s\n", strings.Join(lines, "\n"))
}

func lookup(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}
