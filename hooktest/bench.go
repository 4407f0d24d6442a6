package hooktest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// bench is one hook set up exactly as the server sets it up: built by
// events.Build, run by an events.Dispatcher under the handler's claim
// policy. Only the hook's surroundings differ: no HTTP, no IdP.
type bench struct {
	hook   *events.Hook
	disp   *events.Dispatcher
	policy events.ClaimPolicy
	logs   *observer.ObservedLogs
	api    *sandbox.API // a fixture's own api, for events under design

	mu    sync.Mutex
	async map[string]error // how this run's async hooks ended, by hook
}

type benchConfig struct {
	hook   events.HookConfig
	unlock []string
	budget time.Duration
	api    *sandbox.API
}

func newBench(c benchConfig) (*bench, error) {
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	engine, err := sandbox.New(sandbox.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	c.hook.Logger = log.Named("hook")
	h, err := events.Build(engine, c.hook)
	if err != nil {
		return nil, err
	}
	b := &bench{hook: h, policy: events.NewClaimPolicy(c.unlock), logs: logs, api: c.api}
	if c.api != nil {
		h.Runner = apiOverride{h.Runner, *c.api}
	}
	b.disp = events.NewDispatcher([]*events.Hook{h}, events.Options{Budget: c.budget, Logger: log.Named("events"),
		OnAsync: func(hook string, _ *events.Event, _ *sandbox.Result, err error) {
			b.mu.Lock()
			b.async[hook] = err
			b.mu.Unlock()
		}})
	return b, nil
}

// run dispatches one event (its map is taken over) as the interceptor that
// raises it would: the same claim checks on the same events.
func (b *bench) run(ctx context.Context, event map[string]any) (*events.Event, events.Outcome, error) {
	ev, err := events.FromMap(event)
	if err != nil {
		return nil, events.Outcome{}, err
	}
	b.mu.Lock()
	b.async = map[string]error{}
	b.mu.Unlock()
	out := b.disp.Dispatch(ctx, ev, b.checkFor(ev.Type))
	// Async runs are told, not asked: wait for them so their console
	// output and failures are in the report.
	_ = b.disp.Close(ctx)
	return ev, out, nil
}

// asyncResult is how the hook's async run of the last event ended: ran is
// false when none ran.
func (b *bench) asyncResult() (ran bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	err, ran = b.async[b.hook.Name]
	return ran, err
}

// checkFor is the check the server applies to each event's api calls.
func (b *bench) checkFor(event string) func(sandbox.Op) error {
	switch event {
	case events.BeforeToken, events.BeforeUserinfo:
		return b.policy.Check
	}
	return nil
}

// apiOverride runs a hook with a fixture's api instead of the catalog's.
type apiOverride struct {
	sandbox.Runner
	api sandbox.API
}

func (a apiOverride) Run(ctx context.Context, inv sandbox.Invocation) (*sandbox.Result, error) {
	check := inv.API.Check
	inv.API = a.api
	inv.API.Check = check
	return a.Runner.Run(ctx, inv)
}

// copyJSON deep-copies plain data (what fixtures and events hold).
func copyJSON(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("hooktest: event is not JSON: %v", err))
	}
	var out map[string]any
	dec := json.NewDecoder(bytesReader(b))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return out
}
