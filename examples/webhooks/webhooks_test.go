package webhooks

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/examples/fixtures"
)

var update = flag.Bool("update", false, "write the samples and schemas")

// common are the fields every event has.
var common = []string{"id", "type", "time", "application", "user", "request"}

// schemaOf infers a schema from a sample value: types, and for objects
// their properties (the event's own ones listed; more may come).
func schemaOf(v any) map[string]any {
	switch t := v.(type) {
	case map[string]any:
		props := map[string]any{}
		for _, k := range slices.Sorted(maps.Keys(t)) {
			props[k] = schemaOf(t[k])
		}
		return map[string]any{"type": "object", "properties": props}
	case []any:
		s := map[string]any{"type": "array"}
		if len(t) > 0 {
			s["items"] = schemaOf(t[0])
		}
		return s
	case string:
		return map[string]any{"type": "string"}
	case bool:
		return map[string]any{"type": "boolean"}
	case float64:
		return map[string]any{"type": "number"}
	case nil:
		return map[string]any{}
	}
	return map[string]any{}
}

func build(t *testing.T, id string) (sample, schema []byte) {
	t.Helper()
	raw, err := fixtures.Files.ReadFile(id + ".json")
	if err != nil {
		t.Fatalf("no fixture for %s: %v", id, err)
	}
	var fx struct {
		Event map[string]any `json:"event"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	env := map[string]any{"type": id, "timestamp": fx.Event["time"], "data": fx.Event}
	sample, _ = json.MarshalIndent(env, "", "  ")
	data := schemaOf(fx.Event)
	data["required"] = common
	props := data["properties"].(map[string]any)
	props["type"] = map[string]any{"const": id}
	props["time"] = map[string]any{"type": "string", "format": "date-time"}
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "urn:idphooks:webhooks:" + id,
		"title":       id,
		"description": "The body of an idphooks webhook delivery of " + id + ": the Standard Webhooks envelope around the event as hooks see it.",
		"type":        "object",
		"required":    []string{"type", "timestamp", "data"},
		"properties": map[string]any{
			"type":      map[string]any{"const": id},
			"timestamp": map[string]any{"type": "string", "format": "date-time"},
			"data":      data,
		},
	}
	schema, _ = json.MarshalIndent(s, "", "  ")
	return append(sample, '\n'), append(schema, '\n')
}

func TestSamplesAndSchemas(t *testing.T) {
	ids := events.IDs()
	slices.Sort(ids)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, id := range ids {
		if spec, _ := events.Lookup(id); spec.Secret {
			continue // never delivered to a webhook
		}
		sample, schema := build(t, id)
		for file, want := range map[string][]byte{id + ".sample.json": sample, id + ".schema.json": schema} {
			if *update {
				if err := os.WriteFile(file, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(file)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s is not current: go test ./examples/webhooks -update", file)
			}
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
		if err != nil {
			t.Fatal(err)
		}
		url := "file:///" + filepath.ToSlash(id+".schema.json")
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile(url)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(sample))
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s: the sample does not validate: %v", id, err)
		}
		// Another event's body is refused.
		wrong := strings.Replace(string(sample), `"type": "`+id+`"`, `"type": "not_`+id+`"`, 1)
		inst, _ = jsonschema.UnmarshalJSON(strings.NewReader(wrong))
		if err := sch.Validate(inst); err == nil {
			t.Errorf("%s: the schema takes another event's body", id)
		}
	}
	if !*update {
		if _, err := os.Stat(events.BeforePasswordValidation + ".sample.json"); err == nil {
			t.Error("a sample of the password event ships")
		}
	}
}
