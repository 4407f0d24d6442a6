package hooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/events"
)

// Fixture is a sample event file: the event, and the settings the hook
// runs under, named as in the Caddyfile (the hook's block and the handler's
// unlock_claims and budget). Unknown keys are errors: a misspelled setting
// that were ignored would test another configuration than the author's.
type Fixture struct {
	// Type is the event id, e.g. "before_token"; default event.type.
	Type string `json:"type"`
	// Event is the event as the hook receives it.
	Event map[string]any `json:"event"`

	// The hook's block.
	Mode         string   `json:"mode"`
	Timeout      string   `json:"timeout"`
	OnError      string   `json:"on_error"`
	Applications []string `json:"applications"`
	AllowHosts   []string `json:"allow_hosts"`
	// Secret maps NAME to a value or a placeholder ({env.CRM_TOKEN}), as
	// the block's `secret NAME value` lines do.
	Secret map[string]string `json:"secret"`

	// The handler's block.
	UnlockClaims []string `json:"unlock_claims"`
	Budget       string   `json:"budget"`

	// API overrides the catalog's api of Type, for events under design.
	API *struct {
		Objects   map[string][]string `json:"objects,omitempty"`
		Functions []string            `json:"functions,omitempty"`
	} `json:"api,omitempty"`
}

// fixtureKeys are the keys a fixture may have.
var fixtureKeys = []string{"type", "event", "mode", "timeout", "on_error", "applications",
	"allow_hosts", "secret", "unlock_claims", "budget", "api"}

// renamed are keys earlier fixtures used, with the Caddyfile's name.
var renamed = map[string]string{"allowed_hosts": "allow_hosts", "allowed_cidrs": "allow_hosts", "secrets": "secret"}

func readFixture(path string) (*Fixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFixture(path, b)
}

func parseFixture(path string, b []byte) (*Fixture, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var unknown []string
	for k := range keys {
		if !contains(fixtureKeys, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		var msgs []string
		for _, k := range unknown {
			msg := fmt.Sprintf("unknown key %q", k)
			if r, ok := renamed[k]; ok {
				msg += fmt.Sprintf(" (the Caddyfile calls it %s)", r)
			}
			msgs = append(msgs, msg)
		}
		return nil, fmt.Errorf("%s: %s; a fixture has %s", path, strings.Join(msgs, ", "), strings.Join(fixtureKeys, ", "))
	}
	var fx Fixture
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&fx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if fx.Event == nil {
		return nil, fmt.Errorf("%s: no \"event\"", path)
	}
	evType, _ := fx.Event["type"].(string)
	switch {
	case fx.Type == "":
		fx.Type = evType
	case evType == "":
		fx.Event["type"] = fx.Type
	case evType != fx.Type:
		return nil, fmt.Errorf("%s: type %q but event.type %q", path, fx.Type, evType)
	}
	return &fx, nil
}

// hookConfig is the fixture's hook block, placeholders replaced as Caddy
// replaces them when it provisions the hook.
func (fx *Fixture) hookConfig(path string) (events.HookConfig, error) {
	cfg := events.HookConfig{Path: path, Mode: fx.Mode, OnError: fx.OnError,
		Applications: fx.Applications, AllowHosts: fx.AllowHosts}
	if fx.Timeout != "" {
		d, err := caddy.ParseDuration(fx.Timeout)
		if err != nil {
			return cfg, fmt.Errorf("timeout: %w", err)
		}
		cfg.Timeout = d
	}
	secrets, err := resolveSecrets(fx.Secret)
	if err != nil {
		return cfg, err
	}
	cfg.Secrets = secrets
	return cfg, nil
}

func (fx *Fixture) budget() (time.Duration, error) {
	if fx.Budget == "" {
		return 0, nil
	}
	d, err := caddy.ParseDuration(fx.Budget)
	if err != nil {
		return 0, fmt.Errorf("budget: %w", err)
	}
	return d, nil
}

// resolveSecrets replaces placeholders the way the Caddy module does: an
// unset one is an error, not an empty secret.
func resolveSecrets(in map[string]string) (map[string]string, error) {
	repl := caddy.NewReplacer()
	out := make(map[string]string, len(in))
	for name, v := range in {
		val, err := repl.ReplaceOrErr(v, true, true)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", name, err)
		}
		out[name] = val
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ResolveSecrets replaces placeholders in secret values the way the Caddy
// module does.
func ResolveSecrets(in map[string]string) (map[string]string, error) { return resolveSecrets(in) }
