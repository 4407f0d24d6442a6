package hooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"go.uber.org/zap/zaptest/observer"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

// printDiffs applies the hook's edits to the event's claim sets with the
// policy the server applies them with, and prints each set's changes.
func printDiffs(w io.Writer, p events.ClaimPolicy, typ string, event map[string]any, ops []sandbox.Op) {
	switch typ {
	case events.BeforeToken:
		id := events.EditsFor(ops, "idToken")
		printClaims(w, "id_token", p, claimSet(event, "id_token"), id)
		at := events.EditsFor(ops, "accessToken")
		if format, _ := event["access_token_format"].(string); format == "opaque" {
			if len(at) > 0 {
				fmt.Fprintf(w, "access_token: opaque; its edits show in introspection answers\n")
			}
		} else {
			printClaims(w, "access_token", p, claimSet(event, "access_token"), at)
		}
		if len(id) > 0 {
			fmt.Fprintf(w, "userinfo: the id_token edits apply to this grant's userinfo answers too\n")
		}
	case events.BeforeUserinfo:
		printClaims(w, "userinfo", p, claimSet(event, "userinfo"), events.EditsFor(ops, "userinfo"))
	case events.BeforeSAMLAssertion:
		printAssertion(w, claimSet(event, "saml"), ops)
	}
}

// printAssertion prints what the hook's api.assertion calls change in the
// assertion the SP receives: the NameID and the attributes (by Name, with
// their values), read by the policy the server reads them with.
func printAssertion(w io.Writer, saml map[string]any, ops []sandbox.Op) {
	if saml == nil {
		return
	}
	p := events.NewAssertionPolicy(nil)
	before := map[string]any{}
	if attrs, ok := saml["attributes"].(map[string]any); ok {
		for name, a := range attrs {
			am, _ := a.(map[string]any)
			before[name] = am["values"]
		}
	}
	after := make(map[string]any, len(before))
	for k, v := range before {
		after[k] = v
	}
	nameID, _ := saml["name_id"].(map[string]any)
	oldID, _ := nameID["value"].(string)
	oldFormat, _ := nameID["format"].(string)
	newID, newFormat := oldID, oldFormat
	edits := 0
	for _, op := range ops {
		if op.Object != events.AssertionObject {
			continue
		}
		e, err := p.Edit(op)
		if err != nil {
			continue // thrown into the hook at the call already
		}
		edits++
		switch e.Method {
		case "setAttribute":
			vs := make([]any, len(e.Values))
			for i, v := range e.Values {
				vs[i] = v
			}
			after[e.Name] = vs
		case "removeAttribute":
			delete(after, e.Name)
		case "setNameID":
			newID = e.NameID
			if e.Format != "" {
				newFormat = e.Format
			}
		}
	}
	if edits == 0 {
		return
	}
	if newID != oldID || newFormat != oldFormat {
		fmt.Fprintf(w, "name_id:\n  ~ %s (%s) → %s (%s)\n", jsonText(oldID), oldFormat, jsonText(newID), newFormat)
	}
	printChanges(w, "attributes", "attributes", before, after)
}

func claimSet(event map[string]any, key string) map[string]any {
	m, _ := event[key].(map[string]any)
	return m
}

// printClaims prints what edits change in claims: + added, ~ changed,
// - removed; unchanged claims are counted.
func printClaims(w io.Writer, name string, p events.ClaimPolicy, claims map[string]any, edits []events.ClaimEdit) {
	if claims == nil {
		if len(edits) > 0 {
			fmt.Fprintf(w, "%s: none in the event; its edits have nothing to apply to\n", name)
		}
		return
	}
	after := make(map[string]any, len(claims))
	for k, v := range claims {
		after[k] = v
	}
	p.Apply(after, edits)
	printChanges(w, name, "claims", claims, after)
}

// printChanges prints how after differs from before: + added, ~ changed,
// - removed; unchanged members are counted.
func printChanges(w io.Writer, name, noun string, claims, after map[string]any) {
	names := map[string]bool{}
	for k := range claims {
		names[k] = true
	}
	for k := range after {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var lines []string
	same := 0
	for _, k := range sorted {
		old, had := claims[k]
		nu, has := after[k]
		switch {
		case had && !has:
			lines = append(lines, fmt.Sprintf("  - %s: %s", k, jsonText(old)))
		case !had && has:
			lines = append(lines, fmt.Sprintf("  + %s: %s", k, jsonText(nu)))
		case !equalJSON(old, nu):
			lines = append(lines, fmt.Sprintf("  ~ %s: %s → %s", k, jsonText(old), jsonText(nu)))
		default:
			same++
		}
	}
	if len(lines) == 0 {
		fmt.Fprintf(w, "%s: unchanged (%d %s)\n", name, same, noun)
		return
	}
	fmt.Fprintf(w, "%s:\n%s\n  (%d %s unchanged)\n", name, strings.Join(lines, "\n"), same, noun)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// equalJSON compares values as JSON sees them (json.Number 1 and int64 1
// are the same claim value).
func equalJSON(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
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
		b.WriteString(jsonText(a))
	}
	b.WriteString(")")
	return b.String()
}

// printLogs prints the hook's console lines and the server's lines about
// it (failures with their stack, skips), as Caddy's log would hold them.
func printLogs(w io.Writer, entries []observer.LoggedEntry) {
	var lines []string
	for _, e := range entries {
		line := fmt.Sprintf("  %-5s %s", strings.ToUpper(e.Level.String()), e.Message)
		for _, f := range e.Context {
			if f.Key == "stack" {
				line += "\n        " + strings.ReplaceAll(f.String, "\n", "\n        ")
			}
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "logs:\n%s\n", strings.Join(lines, "\n"))
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
