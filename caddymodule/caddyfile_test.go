package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	// Registers the directives the golden Caddyfiles use next to idp_hooks.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/encode/gzip"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

var update = flag.Bool("update", false, "rewrite the golden JSON files in testdata")

func parseTest(input string) (*Handler, error) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

func ptr[T any](v T) *T { return &v }

func dur(s string) caddy.Duration {
	d, err := caddy.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return caddy.Duration(d)
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  Handler
	}{
		{
			name:  "inline upstream",
			input: `idp_hooks https://idp.internal/realms/main`,
			want:  Handler{Upstream: "https://idp.internal/realms/main"},
		},
		{
			name:  "inline upstream, empty block",
			input: "idp_hooks https://idp.internal {\n}",
			want:  Handler{Upstream: "https://idp.internal"},
		},
		{
			name:  "upstream in block",
			input: "idp_hooks {\n\tupstream https://idp.internal\n}",
			want:  Handler{Upstream: "https://idp.internal"},
		},
		{
			name:  "no upstream at all parses; Validate rejects it",
			input: `idp_hooks`,
			want:  Handler{},
		},
		{
			name: "scalar options",
			input: `idp_hooks https://idp.internal {
				issuer https://login.example.com/
				jwks_path /keys.json
				state /var/lib/idphooks.db
				budget 1500ms
				max_body 512KiB
			}`,
			want: Handler{
				Upstream:  "https://idp.internal",
				Issuer:    "https://login.example.com/",
				JWKSPath:  "/keys.json",
				StatePath: "/var/lib/idphooks.db",
				Budget:    caddy.Duration(1500 * time.Millisecond),
				MaxBody:   512 << 10,
			},
		},
		{
			name:  "state backend by name",
			input: "idp_hooks {\n state bolt /x.db {\n max_entries 500\n }\n}",
			want:  Handler{StateRaw: json.RawMessage(`{"backend":"bolt","max_entries":500,"path":"/x.db"}`)},
		},
		{
			name:  "state backend path in its block",
			input: "idp_hooks {\n state bolt {\n path /x.db\n }\n}",
			want:  Handler{StateRaw: json.RawMessage(`{"backend":"bolt","path":"/x.db"}`)},
		},
		{
			name:  "state path with options",
			input: "idp_hooks {\n state /x.db {\n max_entries off\n }\n}",
			want:  Handler{StateRaw: json.RawMessage(`{"backend":"bolt","max_entries":-1,"path":"/x.db"}`)},
		},
		{
			name:  "state redis address as argument",
			input: "idp_hooks {\n state redis 127.0.0.1:6379\n}",
			want:  Handler{StateRaw: json.RawMessage(`{"address":"127.0.0.1:6379","backend":"redis"}`)},
		},
		{
			name:  "budget in days",
			input: "idp_hooks {\n budget 1d\n}",
			want:  Handler{Budget: caddy.Duration(24 * time.Hour)},
		},
		{
			name:  "max_body SI unit",
			input: "idp_hooks {\n max_body 1MB\n}",
			want:  Handler{MaxBody: 1000000},
		},
		{
			name:  "max_body plain bytes",
			input: "idp_hooks {\n max_body 4096\n}",
			want:  Handler{MaxBody: 4096},
		},
		{
			name:  "upstream_keys on",
			input: "idp_hooks {\n upstream_keys on\n}",
			want:  Handler{PublishUpstreamKeys: ptr(true)},
		},
		{
			name:  "upstream_keys off",
			input: "idp_hooks {\n upstream_keys off\n}",
			want:  Handler{PublishUpstreamKeys: ptr(false)},
		},
		{
			name:  "upstream_keys true",
			input: "idp_hooks {\n upstream_keys true\n}",
			want:  Handler{PublishUpstreamKeys: ptr(true)},
		},
		{
			name:  "upstream_keys false",
			input: "idp_hooks {\n upstream_keys false\n}",
			want:  Handler{PublishUpstreamKeys: ptr(false)},
		},
		{
			name:  "algorithm and claim lists",
			input: "idp_hooks {\n upstream_algorithms RS256 ES384 EdDSA\n unlock_claims aud scope\n}",
			want: Handler{
				UpstreamAlgorithms: []string{"RS256", "ES384", "EdDSA"},
				UnlockClaims:       []string{"aud", "scope"},
			},
		},
		{
			name: "signing block",
			input: `idp_hooks {
				signing {
					algorithm EdDSA
					rotation_period 30d
					pre_publish 72h
					retention 14d
					storage_key idphooks/tenant-a
				}
			}`,
			want: Handler{Signing: &SigningConfig{
				Algorithm:      "EdDSA",
				RotationPeriod: dur("30d"),
				PrePublish:     dur("72h"),
				Retention:      dur("14d"),
				StorageKey:     "idphooks/tenant-a",
			}},
		},
		{
			name:  "signing blocks merge",
			input: "idp_hooks {\n signing {\n  algorithm ES256\n }\n signing {\n  retention 1h\n }\n}",
			want:  Handler{Signing: &SigningConfig{Algorithm: "ES256", Retention: dur("1h")}},
		},
		{
			name:  "hook without block",
			input: "idp_hooks {\n hook hooks/a.js\n}",
			want:  Handler{Hooks: []HookConfig{{Path: "hooks/a.js"}}},
		},
		{
			name:  "hook with empty block",
			input: "idp_hooks {\n hook hooks/a.js {\n }\n}",
			want:  Handler{Hooks: []HookConfig{{Path: "hooks/a.js"}}},
		},
		{
			name: "hooks keep their order and options",
			input: `idp_hooks https://idp.internal {
				hook hooks/enrich.js {
					mode sync
					timeout 750ms
					on_error continue
					applications web spa
					applications https://sp.example.com/saml
					allow_hosts crm.internal *.corp.example.com
					allow_hosts 10.0.0.0/8
					secret CRM_TOKEN {env.CRM_TOKEN}
					secret KEY {file./run/secrets/key}
				}
				hook hooks/audit.js {
					mode async
					on_error deny
				}
				hook hooks/last.js
			}`,
			want: Handler{
				Upstream: "https://idp.internal",
				Hooks: []HookConfig{
					{
						Path:         "hooks/enrich.js",
						Mode:         "sync",
						Timeout:      caddy.Duration(750 * time.Millisecond),
						OnError:      "continue",
						Applications: []string{"web", "spa", "https://sp.example.com/saml"},
						AllowHosts:   []string{"crm.internal", "*.corp.example.com", "10.0.0.0/8"},
						Secrets: map[string]string{
							"CRM_TOKEN": "{env.CRM_TOKEN}",
							"KEY":       "{file./run/secrets/key}",
						},
					},
					{Path: "hooks/audit.js", Mode: "async", OnError: "deny"},
					{Path: "hooks/last.js"},
				},
			},
		},
		{
			name:  "quoted secret value keeps its spaces",
			input: "idp_hooks {\n hook a.js {\n  secret GREETING \"hello world\"\n }\n}",
			want:  Handler{Hooks: []HookConfig{{Path: "a.js", Secrets: map[string]string{"GREETING": "hello world"}}}},
		},
		{
			name:  "same secret name in two hooks",
			input: "idp_hooks {\n hook a.js {\n  secret T 1\n }\n hook b.js {\n  secret T 2\n }\n}",
			want: Handler{Hooks: []HookConfig{
				{Path: "a.js", Secrets: map[string]string{"T": "1"}},
				{Path: "b.js", Secrets: map[string]string{"T": "2"}},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTest(tc.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got  %s\nwant %s", mustJSON(t, got), mustJSON(t, tc.want))
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	const argCount = "wrong argument count"
	for _, tc := range []struct {
		name  string
		input string
		// want are substrings the error must contain; every error must
		// also carry the file and line, checked below.
		want []string
		// knownBug, when set, skips the case: it documents input the
		// parser wrongly accepts today.
		knownBug string
	}{
		// directive line
		{name: "two inline upstreams", input: "idp_hooks https://a https://b", want: []string{argCount, "'https://b'"}},
		{name: "unknown option", input: "idp_hooks {\n bogus 1\n}", want: []string{`unrecognized idp_hooks option "bogus"`, "Testfile:2"}},
		{name: "hook option at top level", input: "idp_hooks {\n mode sync\n}", want: []string{`unrecognized idp_hooks option "mode"`}},
		{name: "signing option at top level", input: "idp_hooks {\n algorithm ES256\n}", want: []string{`unrecognized idp_hooks option "algorithm"`}},

		// webhook
		{name: "webhook without url", input: "idp_hooks {\n webhook {\n  events after_login\n }\n}", want: []string{argCount}},
		{name: "webhook without events", input: "idp_hooks {\n webhook https://a.example/x {\n  secret whsec_x\n }\n}", want: []string{"events is required"}},
		{name: "webhook mode", input: "idp_hooks {\n webhook https://a.example/x {\n  events after_login\n  mode push\n }\n}", want: []string{"mode must be notify or enrich"}},
		{name: "webhook rate", input: "idp_hooks {\n webhook https://a.example/x {\n  events after_login\n  rate fast\n }\n}", want: []string{"rate must be like 50/s"}},
		{name: "webhook retry schedule", input: "idp_hooks {\n webhook https://a.example/x {\n  events after_login\n  retry_schedule 5s soon\n }\n}", want: []string{`"soon" is not a duration`}},
		{name: "webhook unknown option", input: "idp_hooks {\n webhook https://a.example/x {\n  events after_login\n  retries 3\n }\n}", want: []string{`unknown option "retries"`, "Testfile:4"}},
		// shared_signals
		{name: "shared_signals without url", input: "idp_hooks {\n shared_signals {\n  events after_logout\n }\n}", want: []string{argCount}},
		{name: "shared_signals two urls", input: "idp_hooks {\n shared_signals https://a.example/x https://b.example/y\n}", want: []string{argCount}},
		{name: "shared_signals event without meaning", input: "idp_hooks {\n shared_signals https://a.example/x {\n  events after_login\n }\n}", want: []string{"after_login has no Shared Signals (CAEP or RISC) meaning", "Testfile:4"}},
		{name: "shared_signals unknown event", input: "idp_hooks {\n shared_signals https://a.example/x {\n  events after_lunch\n }\n}", want: []string{`unknown event "after_lunch"`}},
		{name: "shared_signals subject", input: "idp_hooks {\n shared_signals https://a.example/x {\n  subject phone_number\n }\n}", want: []string{"subject must be iss_sub or email", "Testfile:3"}},
		{name: "shared_signals audience twice", input: "idp_hooks {\n shared_signals https://a.example/x {\n  audience a\n  audience b\n }\n}", want: []string{"audience given twice", "Testfile:4"}},
		{name: "shared_signals audience two values", input: "idp_hooks {\n shared_signals https://a.example/x {\n  audience a b\n }\n}", want: []string{argCount}},
		{name: "shared_signals option without value", input: "idp_hooks {\n shared_signals https://a.example/x {\n  authorization\n }\n}", want: []string{argCount}},
		{name: "shared_signals retry schedule", input: "idp_hooks {\n shared_signals https://a.example/x {\n  retry_schedule 5s soon\n }\n}", want: []string{`"soon" is not a duration`}},
		{name: "shared_signals timeout", input: "idp_hooks {\n shared_signals https://a.example/x {\n  timeout soon\n }\n}", want: []string{"soon"}},
		{name: "shared_signals webhook option", input: "idp_hooks {\n shared_signals https://a.example/x {\n  secret whsec_x\n }\n}", want: []string{`unknown option "secret"`, "Testfile:3"}},

		// forms block
		{name: "forms without profile", input: "idp_hooks {\n forms {\n }\n}", want: []string{"a profile is required"}},
		{name: "forms unknown profile", input: "idp_hooks {\n forms {\n  profile okta\n }\n}", want: []string{`unknown profile "okta"`, "Testfile:3"}},
		{name: "forms unknown option", input: "idp_hooks {\n forms {\n  profile keycloak\n  bogus\n }\n}", want: []string{`unknown option "bogus"`, "Testfile:4"}},
		{name: "forms keycloak unknown option", input: "idp_hooks {\n forms {\n  profile keycloak {\n   realm acme\n  }\n }\n}", want: []string{`profile keycloak: unknown option "realm"`}},
		{name: "forms admin_client one arg", input: "idp_hooks {\n forms {\n  profile keycloak {\n   admin_client x\n  }\n }\n}", want: []string{"admin_client takes a client id and a secret"}},
		{name: "forms twice", input: "idp_hooks {\n forms {\n  profile keycloak\n }\n forms {\n  profile keycloak\n }\n}", want: []string{"forms given twice", "Testfile:5"}},

		// saml block
		{name: "saml without idp_metadata", input: "idp_hooks {\n saml {\n  leeway 1m\n }\n}", want: []string{"idp_metadata is required"}},
		{name: "saml twice", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n }\n saml {\n  idp_metadata b.xml\n }\n}", want: []string{"saml given twice", "Testfile:5"}},
		{name: "saml argument", input: "idp_hooks {\n saml x {\n  idp_metadata a.xml\n }\n}", want: []string{argCount}},
		{name: "saml unknown option", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  bogus\n }\n}", want: []string{`unrecognized saml option "bogus"`, "Testfile:4"}},
		{name: "saml unknown algorithm", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  algorithms rsa-md5\n }\n}", want: []string{`unknown signature algorithm "rsa-md5"`}},
		{name: "saml metadata_path relative", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  metadata_path md.xml\n }\n}", want: []string{"metadata_path must start with /"}},
		{name: "saml certificate one file", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  certificate a.crt\n }\n}", want: []string{argCount}},
		{name: "saml sp without id", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp\n }\n}", want: []string{argCount}},
		{name: "saml sp twice", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a\n  sp urn:a\n }\n}", want: []string{"sp urn:a given twice"}},
		{name: "saml sp sign", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   sign everything\n  }\n }\n}", want: []string{"sign must be response, assertion or both"}},
		{name: "saml idp_metadata_certificate none", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  idp_metadata_certificate\n }\n}", want: []string{argCount, "Testfile:4"}},
		{name: "saml decrypt argument", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  decrypt yes\n }\n}", want: []string{argCount}},
		{name: "saml decryption_certificate one file", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  decryption_certificate a.crt\n }\n}", want: []string{argCount}},
		{name: "saml sp encryption_algorithms unknown", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   encryption_algorithms aes256-gcm rsa-1_5\n  }\n }\n}", want: []string{`unknown encryption algorithm "rsa-1_5"`, "Testfile:5"}},
		{name: "saml sp encryption_algorithms none", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   encryption_algorithms\n  }\n }\n}", want: []string{argCount}},
		{name: "saml sp metadata none", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   metadata\n  }\n }\n}", want: []string{argCount, "Testfile:5"}},
		{name: "saml sp metadata two", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   metadata a.xml b.xml\n  }\n }\n}", want: []string{argCount}},
		{name: "saml sp metadata_certificate none", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   metadata a.xml\n   metadata_certificate\n  }\n }\n}", want: []string{argCount, "Testfile:6"}},
		{name: "saml sp unknown option", input: "idp_hooks {\n saml {\n  idp_metadata a.xml\n  sp urn:a {\n   bogus\n  }\n }\n}", want: []string{`unrecognized sp option "bogus"`}},

		// single-argument options
		{name: "upstream without value", input: "idp_hooks {\n upstream\n}", want: []string{argCount, "'upstream'"}},
		{name: "upstream with two values", input: "idp_hooks {\n upstream https://a https://b\n}", want: []string{argCount}},
		{name: "issuer without value", input: "idp_hooks {\n issuer\n}", want: []string{argCount, "'issuer'"}},
		{name: "issuer with two values", input: "idp_hooks {\n issuer https://a https://b\n}", want: []string{argCount}},
		{name: "jwks_path without value", input: "idp_hooks {\n jwks_path\n}", want: []string{argCount, "'jwks_path'"}},
		{name: "jwks_path with two values", input: "idp_hooks {\n jwks_path /a /b\n}", want: []string{argCount}},
		{name: "jwks_path relative", input: "idp_hooks {\n jwks_path keys.json\n}", want: []string{"jwks_path must start with /", "Testfile:2"}},
		{name: "jwks_path absolute URL", input: "idp_hooks {\n jwks_path https://idp.example.com/keys\n}", want: []string{"jwks_path must start with /"}},
		{name: "state without value", input: "idp_hooks {\n state\n}", want: []string{argCount, "'state'"}},
		{name: "state with two values", input: "idp_hooks {\n state a.db b.db\n}", want: []string{argCount}},
		{name: "state twice", input: "idp_hooks {\n state a.db\n state b.db\n}", want: []string{"state given twice", "Testfile:3"}},
		{name: "state option unknown", input: "idp_hooks {\n state a.db {\n bogus 1\n }\n}", want: []string{`state: unknown option "bogus"`, "Testfile:3"}},
		{name: "state max_entries not a number", input: "idp_hooks {\n state bolt {\n max_entries -3\n }\n}", want: []string{`max_entries: "-3" is not a positive number or off`}},
		{name: "state backend with two paths", input: "idp_hooks {\n state bolt a.db b.db\n}", want: []string{argCount}},
		{name: "state redis without address", input: "idp_hooks {\n state redis {\n db 1\n }\n}", want: []string{"state redis: no address"}},
		{name: "state redis option unknown", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n cluster on\n }\n}", want: []string{`state redis: unknown option "cluster"`, "Testfile:3"}},
		{name: "state redis db not a number", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n db two\n }\n}", want: []string{`"two" is not a whole number of at least 0`}},
		{name: "state redis pool_size zero", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n pool_size 0\n }\n}", want: []string{`"0" is not a whole number of at least 1`}},
		{name: "state redis replicas timeout", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n replicas 1 soon\n }\n}", want: []string{`replicas: "soon" is not a timeout`}},
		{name: "state redis lease not a duration", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n lease forever\n }\n}", want: []string{`invalid duration "forever"`}},
		{name: "state redis client certificate without key", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n tls {\n client_certificate c.pem\n }\n }\n}", want: []string{"client_certificate: <certificate file> <key file>"}},
		{name: "state redis tls option unknown", input: "idp_hooks {\n state redis 127.0.0.1:6379 {\n tls {\n insecure yes\n }\n }\n}", want: []string{`state redis: tls: unknown option "insecure"`}},
		{name: "state redis two addresses", input: "idp_hooks {\n state redis a:1 b:2\n}", want: []string{argCount}},

		// upstream_keys
		{name: "upstream_keys without value", input: "idp_hooks {\n upstream_keys\n}", want: []string{argCount, "'upstream_keys'"}},
		{name: "upstream_keys with two values", input: "idp_hooks {\n upstream_keys on off\n}", want: []string{argCount}},
		{name: "upstream_keys not a switch", input: "idp_hooks {\n upstream_keys maybe\n}", want: []string{`expected on or off, not "maybe"`}},

		// lists
		{name: "upstream_algorithms empty", input: "idp_hooks {\n upstream_algorithms\n}", want: []string{argCount, "'upstream_algorithms'"}},
		{name: "upstream_algorithms HS256", input: "idp_hooks {\n upstream_algorithms RS256 HS256\n}", want: []string{"upstream_algorithms: HS256 is not allowed"}},
		{name: "upstream_algorithms HS512", input: "idp_hooks {\n upstream_algorithms HS512\n}", want: []string{"HS512 is not allowed"}},
		{name: "upstream_algorithms none", input: "idp_hooks {\n upstream_algorithms none\n}", want: []string{"none is not allowed"}},
		{name: "upstream_algorithms None", input: "idp_hooks {\n upstream_algorithms ES256 None\n}", want: []string{"None is not allowed"}},
		{name: "upstream_algorithms lower-case hs256", input: "idp_hooks {\n upstream_algorithms hs256\n}", want: []string{"hs256"}},
		{name: "unlock_claims empty", input: "idp_hooks {\n unlock_claims\n}", want: []string{argCount, "'unlock_claims'"}},
		{name: "list option followed by a block", input: "idp_hooks {\n unlock_claims {\n  aud\n }\n}", want: []string{argCount, "'unlock_claims'"}},

		// max_body
		{name: "max_body without value", input: "idp_hooks {\n max_body\n}", want: []string{argCount, "'max_body'"}},
		{name: "max_body with two values", input: "idp_hooks {\n max_body 1 MiB\n}", want: []string{argCount}},
		{name: "max_body not a size", input: "idp_hooks {\n max_body lots\n}", want: []string{`max_body: invalid size "lots"`}},
		{name: "max_body zero", input: "idp_hooks {\n max_body 0\n}", want: []string{`max_body: invalid size "0"`}},
		{name: "max_body negative", input: "idp_hooks {\n max_body -1MiB\n}", want: []string{`max_body: invalid size "-1MiB"`}},
		{name: "max_body overflows int64", input: "idp_hooks {\n max_body 8EiB\n}", want: []string{"max_body"}},

		// durations
		{name: "budget without value", input: "idp_hooks {\n budget\n}", want: []string{argCount, "'budget'"}},
		{name: "budget with two values", input: "idp_hooks {\n budget 1s 2s\n}", want: []string{argCount}},
		{name: "budget not a duration", input: "idp_hooks {\n budget soon\n}", want: []string{`invalid duration "soon"`}},
		{name: "budget without unit", input: "idp_hooks {\n budget 5\n}", want: []string{`invalid duration "5"`}},
		{name: "budget zero", input: "idp_hooks {\n budget 0s\n}", want: []string{`duration must be positive: "0s"`}},
		{name: "budget negative", input: "idp_hooks {\n budget -2s\n}", want: []string{`duration must be positive: "-2s"`}},

		// signing
		{name: "signing with an argument", input: "idp_hooks {\n signing ES256 {\n }\n}", want: []string{argCount, "'ES256'"}},
		{name: "signing unknown option", input: "idp_hooks {\n signing {\n  curve P-256\n }\n}", want: []string{`unrecognized signing option "curve"`, "Testfile:3"}},
		{name: "signing hook option", input: "idp_hooks {\n signing {\n  mode sync\n }\n}", want: []string{`unrecognized signing option "mode"`}},
		{name: "signing algorithm without value", input: "idp_hooks {\n signing {\n  algorithm\n }\n}", want: []string{argCount, "'algorithm'"}},
		{name: "signing algorithm with two values", input: "idp_hooks {\n signing {\n  algorithm RS256 ES256\n }\n}", want: []string{argCount}},
		{name: "signing algorithm HS256", input: "idp_hooks {\n signing {\n  algorithm HS256\n }\n}", want: []string{`signing algorithm "HS256" is not supported`}},
		{name: "signing algorithm none", input: "idp_hooks {\n signing {\n  algorithm none\n }\n}", want: []string{`signing algorithm "none" is not supported`}},
		{name: "signing algorithm lower case", input: "idp_hooks {\n signing {\n  algorithm rs256\n }\n}", want: []string{`signing algorithm "rs256" is not supported`}},
		{name: "signing algorithm Ed25519", input: "idp_hooks {\n signing {\n  algorithm Ed25519\n }\n}", want: []string{`signing algorithm "Ed25519" is not supported`}},
		{name: "rotation_period missing", input: "idp_hooks {\n signing {\n  rotation_period\n }\n}", want: []string{argCount, "'rotation_period'"}},
		{name: "rotation_period bad", input: "idp_hooks {\n signing {\n  rotation_period monthly\n }\n}", want: []string{`invalid duration "monthly"`}},
		{name: "rotation_period zero", input: "idp_hooks {\n signing {\n  rotation_period 0h\n }\n}", want: []string{"duration must be positive"}},
		{name: "pre_publish negative", input: "idp_hooks {\n signing {\n  pre_publish -1h\n }\n}", want: []string{"duration must be positive"}},
		{name: "pre_publish bad", input: "idp_hooks {\n signing {\n  pre_publish 2x\n }\n}", want: []string{`invalid duration "2x"`}},
		{name: "retention zero", input: "idp_hooks {\n signing {\n  retention 0d\n }\n}", want: []string{"duration must be positive"}},
		{name: "retention extra", input: "idp_hooks {\n signing {\n  retention 1d 2d\n }\n}", want: []string{argCount}},
		{name: "storage_key missing", input: "idp_hooks {\n signing {\n  storage_key\n }\n}", want: []string{argCount, "'storage_key'"}},
		{name: "storage_key extra", input: "idp_hooks {\n signing {\n  storage_key a b\n }\n}", want: []string{argCount}},

		// hook
		{name: "hook without path", input: "idp_hooks {\n hook\n}", want: []string{argCount, "'hook'"}},
		{name: "hook without path but a block", input: "idp_hooks {\n hook {\n  mode sync\n }\n}", want: []string{argCount, "'hook'"}},
		{name: "hook with two paths", input: "idp_hooks {\n hook a.js b.js\n}", want: []string{argCount, "'b.js'"}},
		{name: "hook unknown option", input: "idp_hooks {\n hook a.js {\n  retries 3\n }\n}", want: []string{`unrecognized hook option "retries"`, "Testfile:3"}},
		{name: "hook top-level option", input: "idp_hooks {\n hook a.js {\n  budget 1s\n }\n}", want: []string{`unrecognized hook option "budget"`}},
		{name: "mode missing", input: "idp_hooks {\n hook a.js {\n  mode\n }\n}", want: []string{argCount, "'mode'"}},
		{name: "mode extra", input: "idp_hooks {\n hook a.js {\n  mode sync async\n }\n}", want: []string{argCount}},
		{name: "mode bad", input: "idp_hooks {\n hook a.js {\n  mode sometimes\n }\n}", want: []string{`hook mode must be sync or async, not "sometimes"`}},
		{name: "mode upper case", input: "idp_hooks {\n hook a.js {\n  mode SYNC\n }\n}", want: []string{`not "SYNC"`}},
		{name: "timeout missing", input: "idp_hooks {\n hook a.js {\n  timeout\n }\n}", want: []string{argCount, "'timeout'"}},
		{name: "timeout bad", input: "idp_hooks {\n hook a.js {\n  timeout fast\n }\n}", want: []string{`invalid duration "fast"`}},
		{name: "timeout zero", input: "idp_hooks {\n hook a.js {\n  timeout 0ms\n }\n}", want: []string{"duration must be positive"}},
		{name: "timeout negative", input: "idp_hooks {\n hook a.js {\n  timeout -1s\n }\n}", want: []string{"duration must be positive"}},
		{name: "on_error missing", input: "idp_hooks {\n hook a.js {\n  on_error\n }\n}", want: []string{argCount, "'on_error'"}},
		{name: "on_error bad", input: "idp_hooks {\n hook a.js {\n  on_error ignore\n }\n}", want: []string{`on_error must be deny or continue, not "ignore"`}},
		{name: "on_error extra", input: "idp_hooks {\n hook a.js {\n  on_error deny continue\n }\n}", want: []string{argCount}},
		{name: "applications empty", input: "idp_hooks {\n hook a.js {\n  applications\n }\n}", want: []string{argCount, "'applications'"}},
		{name: "applications empty after a full line", input: "idp_hooks {\n hook a.js {\n  applications web\n  applications\n }\n}", want: []string{argCount}},
		{name: "allow_hosts empty", input: "idp_hooks {\n hook a.js {\n  allow_hosts\n }\n}", want: []string{argCount, "'allow_hosts'"}},
		{name: "secret without anything", input: "idp_hooks {\n hook a.js {\n  secret\n }\n}", want: []string{argCount, "'secret'"}},
		{name: "secret without value", input: "idp_hooks {\n hook a.js {\n  secret TOKEN\n }\n}", want: []string{argCount, "'TOKEN'"}},
		{name: "secret with three args", input: "idp_hooks {\n hook a.js {\n  secret TOKEN a b\n }\n}", want: []string{argCount}},
		{name: "secret declared twice", input: "idp_hooks {\n hook a.js {\n  secret TOKEN a\n  secret TOKEN b\n }\n}", want: []string{"secret TOKEN declared twice", "Testfile:4"}},

		// record
		{name: "record twice", input: "idp_hooks {\n record\n record\n}", want: []string{"record given twice"}},
		{name: "record two paths", input: "idp_hooks {\n record a b\n}", want: []string{argCount}},
		{name: "record sample bad", input: "idp_hooks {\n record {\n  sample 2\n }\n}", want: []string{"record sample must be a fraction in (0, 1]"}},
		{name: "record sample zero", input: "idp_hooks {\n record {\n  sample 0\n }\n}", want: []string{"record sample must be a fraction"}},
		{name: "record max_size bad", input: "idp_hooks {\n record {\n  max_size big\n }\n}", want: []string{`record max_size: invalid size "big"`}},
		{name: "record keep zero", input: "idp_hooks {\n record {\n  keep 0\n }\n}", want: []string{"record keep must be a positive number"}},
		{name: "record events empty", input: "idp_hooks {\n record {\n  events\n }\n}", want: []string{argCount}},
		{name: "record events unknown", input: "idp_hooks {\n record {\n  events before_tokn\n }\n}", want: []string{`unknown event "before_tokn" (did you mean before_token?)`}},
		{name: "record option unknown", input: "idp_hooks {\n record {\n  rate 10\n }\n}", want: []string{`unrecognized record option "rate"`}},

		// blocks where none belongs
		{name: "block under upstream", input: "idp_hooks {\n upstream https://a {\n  x\n }\n}", want: []string{`unrecognized idp_hooks option "{"`}},
		{name: "block under upstream_keys", input: "idp_hooks {\n upstream_keys on {\n }\n}", want: []string{`unrecognized idp_hooks option "{"`}},
		{name: "block under budget", input: "idp_hooks {\n budget 1s {\n  x\n }\n}", want: []string{`unrecognized idp_hooks option "{"`}},
		{name: "block under signing option", input: "idp_hooks {\n signing {\n  algorithm ES256 {\n   curve P-256\n  }\n }\n}", want: []string{`unrecognized signing option "{"`}},
		{name: "block under hook option", input: "idp_hooks {\n hook a.js {\n  mode sync {\n   x\n  }\n }\n}", want: []string{`unrecognized hook option "{"`}},
		{name: "signing inside hook", input: "idp_hooks {\n hook a.js {\n  signing {\n   algorithm ES256\n  }\n }\n}", want: []string{`unrecognized hook option "signing"`}},
		{name: "hook inside hook", input: "idp_hooks {\n hook a.js {\n  hook b.js\n }\n}", want: []string{`unrecognized hook option "hook"`}},
		{name: "hook inside signing", input: "idp_hooks {\n signing {\n  hook b.js\n }\n}", want: []string{`unrecognized signing option "hook"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.knownBug != "" {
				t.Skip("known bug: " + tc.knownBug)
			}
			h, err := parseTest(tc.input)
			if err == nil {
				t.Fatalf("no error; parsed %s", mustJSON(t, h))
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if !regexp.MustCompile(`Testfile:\d+`).MatchString(msg) {
				t.Errorf("error %q does not name the file and line", msg)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// adapt runs the caddyfile adapter as `caddy adapt` does, failing on
// warnings so the inputs stay `caddy fmt`-clean.
func adapt(t *testing.T, name string, src []byte) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": name})
	if err != nil {
		t.Fatalf("adapt %s: %v", name, err)
	}
	for _, w := range warnings {
		t.Errorf("adapt %s: warning: %s", name, w.String())
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// TestAdaptGolden adapts testdata/*.caddyfile and compares the JSON with
// the .json next to it; `go test -run TestAdaptGolden -update` rewrites them.
func TestAdaptGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.caddyfile")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".caddyfile")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := adapt(t, filepath.Base(in), src)
			golden := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", in, golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff lists the lines that differ, position by position; enough to
// spot a change in a golden file.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

// handlerNames walks an adapted config and returns, for every route list
// that holds an idp_hooks handler, the handler names in request order.
func handlerNames(t *testing.T, cfg []byte) [][]string {
	t.Helper()
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if routes, ok := v["routes"].([]any); ok {
				var names []string
				for _, r := range routes {
					rm, _ := r.(map[string]any)
					hs, _ := rm["handle"].([]any)
					for _, h := range hs {
						hm, _ := h.(map[string]any)
						if n, ok := hm["handler"].(string); ok {
							names = append(names, n)
						}
					}
				}
				if containsString(names, "idp_hooks") {
					out = append(out, names)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(root)
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestAdaptDirectiveOrder checks the registered order without relying on
// the golden files: with no `order` option and no `route`, idp_hooks must
// come before reverse_proxy (so it sees the IdP's responses) and after
// encode and header (so they wrap what it rewrites).
func TestAdaptDirectiveOrder(t *testing.T) {
	for _, src := range []string{
		"example.com {\n\treverse_proxy idp:8080\n\tidp_hooks http://idp:8080\n}\n",
		"example.com {\n\tidp_hooks http://idp:8080\n\treverse_proxy idp:8080\n}\n",
		"example.com {\n\treverse_proxy idp:8080\n\theader X-A b\n\tidp_hooks http://idp:8080\n\tencode gzip\n}\n",
		"example.com {\n\thandle /realms/* {\n\t\treverse_proxy idp:8080\n\t\tidp_hooks http://idp:8080\n\t}\n}\n",
	} {
		lists := handlerNames(t, adapt(t, "Caddyfile", []byte(src)))
		if len(lists) == 0 {
			t.Errorf("no route list with idp_hooks in\n%s", src)
			continue
		}
		for _, names := range lists {
			hooks := indexOf(names, "idp_hooks")
			if rp := indexOf(names, "reverse_proxy"); rp < 0 || hooks > rp {
				t.Errorf("handlers %v: idp_hooks must precede reverse_proxy\n%s", names, src)
			}
			for _, outer := range []string{"encode", "headers"} {
				if i := indexOf(names, outer); i >= 0 && i > hooks {
					t.Errorf("handlers %v: %s must wrap idp_hooks\n%s", names, outer, src)
				}
			}
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// findHandler returns the first idp_hooks handler object of an adapted
// config, decoded into a Handler.
func findHandler(t *testing.T, cfg []byte) Handler {
	t.Helper()
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	var found map[string]any
	var walk func(v any)
	walk = func(v any) {
		if found != nil {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "idp_hooks" {
				found = v
				return
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(root)
	if found == nil {
		t.Fatal("no idp_hooks handler in the adapted config")
	}
	delete(found, "handler")
	var h Handler
	b, _ := json.Marshal(found)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("adapted handler does not decode strictly: %v", err)
	}
	return h
}

// TestAdaptPlaceholders: runtime placeholders in secrets survive adapting
// verbatim (they are resolved at provision time), while {$VAR} is expanded
// by the Caddyfile lexer at adapt time and so lands in the JSON in clear.
func TestAdaptPlaceholders(t *testing.T) {
	t.Setenv("IDPHOOKS_ADAPT_TEST", "expanded-at-adapt")
	src := ":8080 {\n" +
		"\tidp_hooks http://127.0.0.1:9000 {\n" +
		"\t\thook crm.js {\n" +
		"\t\t\tsecret ENV {env.CRM_TOKEN}\n" +
		"\t\t\tsecret FILE {file./run/secrets/crm}\n" +
		"\t\t\tsecret EARLY {$IDPHOOKS_ADAPT_TEST}\n" +
		"\t\t}\n" +
		"\t}\n" +
		"}\n"
	h := findHandler(t, adapt(t, "Caddyfile", []byte(src)))
	want := map[string]string{
		"ENV":   "{env.CRM_TOKEN}",
		"FILE":  "{file./run/secrets/crm}",
		"EARLY": "expanded-at-adapt",
	}
	if len(h.Hooks) != 1 || !reflect.DeepEqual(h.Hooks[0].Secrets, want) {
		t.Errorf("secrets = %+v, want %v", h.Hooks, want)
	}
}

// TestAdaptFullRoundTrip: the full golden config decodes strictly into the
// same Handler the parser produced, so no option is lost between the
// Caddyfile and JSON.
func TestAdaptFullRoundTrip(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "full.caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	h := findHandler(t, adapt(t, "full.caddyfile", src))
	want := Handler{
		Upstream:            "http://keycloak:8080/realms/main",
		Issuer:              "https://idp.example.com/realms/main",
		JWKSPath:            "/.well-known/hooks/jwks.json",
		PublishUpstreamKeys: ptr(false),
		UpstreamAlgorithms:  []string{"RS256", "PS256", "ES256", "EdDSA"},
		UnlockClaims:        []string{"aud", "scope"},
		MaxBody:             2 << 20,
		Budget:              caddy.Duration(1500 * time.Millisecond),
		StatePath:           "/var/lib/caddy/idphooks/state.db",
		Signing: &SigningConfig{
			Algorithm:      "ES256",
			RotationPeriod: dur("30d"),
			PrePublish:     dur("72h"),
			Retention:      dur("14d"),
			StorageKey:     "idphooks/main",
		},
		Hooks: []HookConfig{
			{
				Path:         "/etc/idphooks/enrich.js",
				Mode:         "sync",
				Timeout:      caddy.Duration(750 * time.Millisecond),
				OnError:      "continue",
				Applications: []string{"web-app", "spa", "https://sp.example.com/saml"},
				AllowHosts:   []string{"crm.internal", "*.corp.example.com", "10.0.0.0/8"},
				Secrets: map[string]string{
					"CRM_TOKEN": "{env.CRM_TOKEN}",
					"CRM_URL":   "https://crm.internal/api",
				},
			},
			{Path: "/etc/idphooks/audit.js", Mode: "async"},
		},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got  %s\nwant %s", mustJSON(t, h), mustJSON(t, want))
	}
}

// TestAdaptErrorNamesFileAndLine: a parser error surfaces through the
// adapter with the Caddyfile's name and the offending line.
func TestAdaptErrorNamesFileAndLine(t *testing.T) {
	src := "example.com {\n\tidp_hooks http://idp:8080 {\n\t\tbudget never\n\t}\n\treverse_proxy idp:8080\n}\n"
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "Caddyfile.test"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{`invalid duration "never"`, "Caddyfile.test:3"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
