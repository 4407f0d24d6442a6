package types_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/types"
)

// TestTypeScript type-checks idphooks.d.ts, the hooks in testdata/ and
// demo/claims.js with the typescript pinned in package.json
// (tsconfig.json: no DOM, the sandbox's globals only).
func TestTypeScript(t *testing.T) {
	typeScript(t).pass(t, "-p", "tsconfig.json")
}

// TestTypeScriptWithDOM checks the declarations under TypeScript's defaults,
// which a new user's tsconfig.json without "lib" or "types" gets: the DOM
// lib, whose console, crypto and fetch share names with the sandbox's. The
// hooks must pass there too; misuse.js is left out, as the DOM makes legal
// what it expects to fail (document, setTimeout, WebCrypto).
func TestTypeScriptWithDOM(t *testing.T) {
	tsc := typeScript(t)
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	checkJS := map[string]any{"target": "es2020", "module": "commonjs", "allowJs": true, "checkJs": true,
		"strict": true, "resolveJsonModule": true, "noEmit": true}
	hooks := []string{abs("idphooks.d.ts")}
	for _, f := range []string{"token.js", "flows.js", "checked.js", "exports.js"} {
		hooks = append(hooks, abs(filepath.Join("testdata", f)))
	}
	initDir := t.TempDir()
	if _, err := types.Init(initDir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		dir     string
		options map[string]any
		files   []string // nil: tsc's default, every file in dir
	}{
		{"declarations, no options", t.TempDir(), map[string]any{"strict": true, "noEmit": true}, []string{abs("idphooks.d.ts")}},
		{"testdata hooks", t.TempDir(), checkJS, hooks},
		{"init folder with its own tsconfig.json", initDir, checkJS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := map[string]any{"compilerOptions": tc.options}
			if tc.files != nil {
				config["files"] = tc.files
			}
			b, err := json.Marshal(config)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tc.dir, "tsconfig.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := tsc.pass(t, "-p", tc.dir, "--listFiles")
			if !strings.Contains(out, "lib.dom.d.ts") {
				t.Errorf("the DOM lib was not in the program, so this proves nothing:\n%s", out)
			}
		})
	}
}

// TestInit checks what Init writes and that it never overwrites.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hooks") // Init creates it
	names := []string{"idphooks.d.ts", "jsconfig.json", "hook.js"}
	var want []string
	for _, n := range names {
		want = append(want, filepath.Join(dir, n))
	}
	got, err := types.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Init wrote %q, want %q", got, want)
	}
	decl, err := os.ReadFile("idphooks.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "idphooks.d.ts")); err != nil || !bytes.Equal(b, decl) {
		t.Errorf("the idphooks.d.ts Init wrote is not types/idphooks.d.ts (err %v)", err)
	}

	// Again: every file is there, and named.
	_, err = types.Init(dir)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Init over its own files: err %v, want fs.ErrExist", err)
	}
	for _, p := range want {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}

	// One file of the user's: it is named and kept, and nothing is written.
	for _, n := range names {
		t.Run(n+" exists", func(t *testing.T) {
			dir := t.TempDir()
			mine := filepath.Join(dir, n)
			if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := types.Init(dir)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), mine) {
				t.Fatalf("Init: %v, want an error naming %s", err, mine)
			}
			if got != nil {
				t.Errorf("Init returned %q with its error", got)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("Init wrote files beside %s: %v", n, entries)
			}
			if b, _ := os.ReadFile(mine); string(b) != "mine" {
				t.Errorf("%s was overwritten: %q", n, b)
			}
		})
	}
}

// TestInitTypeChecks runs tsc on a folder Init wrote, with the jsconfig.json
// it wrote: the starter hook passes, and the mistakes @satisfies is there
// to catch fail, named.
func TestInitTypeChecks(t *testing.T) {
	tsc := typeScript(t)
	dir := t.TempDir()
	if _, err := types.Init(dir); err != nil {
		t.Fatal(err)
	}
	tsc.pass(t, "-p", filepath.Join(dir, "jsconfig.json"))

	const handler = "  async onBeforeToken(event, api) {\n"
	for _, tc := range []struct {
		name, old, new string
		want           []string // in tsc's output
	}{
		{"misspelled handler", handler, strings.Replace(handler, "onBeforeToken", "onBeforToken", 1),
			[]string{"hook.js(", "TS2561", "'onBeforToken' does not exist"}},
		{"extra misspelled export", handler, "  onAfterLogn(event) {},\n" + handler,
			[]string{"hook.js(", "TS2561", "'onAfterLogn' does not exist"}},
		{"handler not a function", handler, "  onAfterLogin: 42,\n" + handler,
			[]string{"hook.js(", "TS2322", "not assignable to type 'Handler<"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := types.Init(dir); err != nil {
				t.Fatal(err)
			}
			hook := filepath.Join(dir, "hook.js")
			b, err := os.ReadFile(hook)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("the starter hook has no %q to change", tc.old)
			}
			b = []byte(strings.Replace(string(b), tc.old, tc.new, 1))
			if err := os.WriteFile(hook, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := tsc.fail(t, "-p", filepath.Join(dir, "jsconfig.json"))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("tsc output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// compiler runs the pinned tsc with node.
type compiler struct{ node, tsc string }

// typeScript returns the typescript pinned in package.json, running `npm
// ci` when node_modules is missing or holds another version. It skips the
// test when node or npm is not installed.
func typeScript(t *testing.T) compiler {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the TypeScript check")
	}
	if want, have := pinnedTypeScript(t), installedTypeScript(); have != want {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed: skipping the TypeScript check")
		}
		t.Logf("typescript %q installed, %q pinned: running npm ci", have, want)
		if out, err := run(t, 5*time.Minute, npm, "ci", "--no-audit", "--no-fund"); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
		if have := installedTypeScript(); have != want {
			t.Fatalf("after npm ci, node_modules holds typescript %q, package.json pins %q", have, want)
		}
	}
	// What `npx tsc` runs, without npx's start-up and registry look-ups.
	tsc, err := filepath.Abs(filepath.Join("node_modules", "typescript", "bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	return compiler{node: node, tsc: tsc}
}

// pass runs tsc and fails the test on any diagnostic.
func (c compiler) pass(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.run(t, args...)
	if err != nil {
		t.Fatalf("tsc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fail runs tsc, fails the test unless tsc reports diagnostics (exit
// status 1 or 2; not a crash or a bad command line), and returns them.
func (c compiler) fail(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.run(t, args...)
	var exit *exec.ExitError
	switch {
	case err == nil:
		t.Fatalf("tsc %s passed, want errors:\n%s", strings.Join(args, " "), out)
	case !errors.As(err, &exit) || !strings.Contains(out, "error TS"):
		t.Fatalf("tsc %s: %v, want type errors:\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c compiler) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, 2*time.Minute, c.node, append([]string{c.tsc, "--noEmit", "--pretty", "false"}, args...)...)
}

// pinnedTypeScript is the exact typescript version package.json asks for.
func pinnedTypeScript(t *testing.T) string {
	t.Helper()
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	b, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	v := pkg.DevDependencies["typescript"]
	if !regexp.MustCompile(`^5\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("package.json must pin an exact typescript 5.x version, not %q", v)
	}
	return v
}

// installedTypeScript is the version in node_modules, "" when none.
func installedTypeScript() string {
	var pkg struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile(filepath.Join("node_modules", "typescript", "package.json"))
	if err != nil || json.Unmarshal(b, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out.String(), err
}

// TestHandlersMatchCatalog checks that the Handlers interface has one
// handler per catalog event, named by events.HandlerName, whose api type
// holds exactly the objects, methods and functions the catalog gives that
// event, and whose event type is tagged with the event id.
func TestHandlersMatchCatalog(t *testing.T) {
	src, err := os.ReadFile("idphooks.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDeclarations(string(src))
	if err != nil {
		t.Fatal(err)
	}
	ids := events.IDs()
	sort.Strings(ids)

	if got := d.eventTypes; !slices.Equal(sorted(got), ids) {
		t.Errorf("IdpHooks.EventType is %v, the catalog has %v", sorted(got), ids)
	}

	handlers, ok := d.interfaces["Handlers"]
	if !ok {
		t.Fatal("no interface IdpHooks.Handlers")
	}
	want := map[string]string{} // handler name → event id
	for _, id := range ids {
		want[events.HandlerName(id)] = id
	}
	for _, m := range handlers.members {
		if _, ok := want[m.name]; !ok {
			t.Errorf("Handlers.%s: no catalog event has this handler", m.name)
		}
	}
	for _, id := range ids {
		spec, ok := events.Lookup(id)
		if !ok {
			t.Fatalf("events.Lookup(%q) failed", id)
		}
		name := events.HandlerName(id)
		m, ok := handlers.member(name)
		if !ok {
			t.Errorf("Handlers has no %s (event %s)", name, id)
			continue
		}
		if m.optional || m.method {
			t.Errorf("Handlers.%s must be a required property", name)
		}
		args, ok := genericArgs(m.typ, "Handler")
		if !ok || len(args) != 2 {
			t.Errorf("Handlers.%s is %q, want Handler<Event, API>", name, m.typ)
			continue
		}
		if !d.tagged(args[0], id) {
			t.Errorf("Handlers.%s: event type %s is not tagged %q", name, args[0], id)
		}
		got, err := d.api(args[1])
		if err != nil {
			t.Errorf("Handlers.%s: api %s: %v", name, args[1], err)
			continue
		}
		if w := catalogAPI(spec); !got.equal(w) {
			t.Errorf("Handlers.%s: api %s declares %s; the catalog (%s mode) gives %s", name, args[1], got, spec.Mode, w)
		}
	}
}

// apiShape is what an api object holds: functions and method groups.
type apiShape struct {
	functions []string
	objects   map[string][]string
}

func catalogAPI(s events.Spec) apiShape {
	a := apiShape{functions: sorted(s.Functions), objects: map[string][]string{}}
	for o, ms := range s.Objects {
		a.objects[o] = sorted(ms)
	}
	return a
}

func (a apiShape) equal(b apiShape) bool {
	if !slices.Equal(a.functions, b.functions) || len(a.objects) != len(b.objects) {
		return false
	}
	for o, ms := range a.objects {
		if bm, ok := b.objects[o]; !ok || !slices.Equal(ms, bm) {
			return false
		}
	}
	return true
}

func (a apiShape) String() string {
	var parts []string
	for _, f := range a.functions {
		parts = append(parts, f+"()")
	}
	var objs []string
	for o := range a.objects {
		objs = append(objs, o)
	}
	sort.Strings(objs)
	for _, o := range objs {
		parts = append(parts, o+".{"+strings.Join(a.objects[o], ", ")+"}")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// A small reader for the subset of TypeScript idphooks.d.ts uses for its
// interfaces: `interface Name<…> extends A, B<…> { members }` with members
// `name(…): T;`, `name?: T;` and `[key: string]: T;`. Anything it does not
// understand where an api is expected fails the test rather than passing.

type member struct {
	name     string
	method   bool
	optional bool
	typ      string // property type, or the method's whole signature
}

type iface struct {
	extends []string
	members []member
}

func (i iface) member(name string) (member, bool) {
	for _, m := range i.members {
		if m.name == name {
			return m, true
		}
	}
	return member{}, false
}

type declarations struct {
	interfaces map[string]iface
	eventTypes []string
}

var (
	interfaceRE = regexp.MustCompile(`\binterface\s+([A-Za-z_$][\w$]*)\s*`)
	eventTypeRE = regexp.MustCompile(`\btype\s+EventType\s*=([^;]*);`)
	stringRE    = regexp.MustCompile(`"([^"]*)"`)
	// A method may have type parameters: getRandomValues<T …>(array: T).
	memberRE = regexp.MustCompile(`^(?:readonly\s+)?([A-Za-z_$][\w$]*)\s*(\?)?\s*([(:<])`)
	identRE  = regexp.MustCompile(`^[A-Za-z_$][\w$]*$`)
)

func parseDeclarations(src string) (*declarations, error) {
	src = stripComments(src)
	d := &declarations{interfaces: map[string]iface{}}
	m := eventTypeRE.FindStringSubmatch(src)
	if m == nil {
		return nil, fmt.Errorf("no type IdpHooks.EventType")
	}
	for _, s := range stringRE.FindAllStringSubmatch(m[1], -1) {
		d.eventTypes = append(d.eventTypes, s[1])
	}
	for _, loc := range interfaceRE.FindAllStringSubmatchIndex(src, -1) {
		name := src[loc[2]:loc[3]]
		rest := src[loc[1]:]
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			return nil, fmt.Errorf("interface %s: no body", name)
		}
		head := rest[:open]
		if strings.HasPrefix(head, "<") {
			end := matching(head, 0)
			if end < 0 {
				return nil, fmt.Errorf("interface %s: unbalanced type parameters", name)
			}
			head = head[end+1:]
		}
		var it iface
		if head = strings.TrimSpace(head); head != "" {
			after, ok := strings.CutPrefix(head, "extends")
			if !ok {
				return nil, fmt.Errorf("interface %s: cannot read %q", name, head)
			}
			it.extends = splitTop(after, ',')
		}
		end := matching(rest, open)
		if end < 0 {
			return nil, fmt.Errorf("interface %s: unbalanced braces", name)
		}
		members, err := parseMembers(rest[open+1 : end])
		if err != nil {
			return nil, fmt.Errorf("interface %s: %v", name, err)
		}
		it.members = members
		if _, dup := d.interfaces[name]; dup {
			return nil, fmt.Errorf("interface %s is declared twice", name)
		}
		d.interfaces[name] = it
	}
	return d, nil
}

func parseMembers(body string) ([]member, error) {
	var out []member
	for _, text := range splitTop(body, ';') {
		if text == "" || strings.HasPrefix(text, "[") {
			continue // index signature
		}
		m := memberRE.FindStringSubmatch(text)
		if m == nil {
			return nil, fmt.Errorf("cannot read member %q", text)
		}
		mem := member{name: m[1], optional: m[2] == "?", method: m[3] != ":"}
		if mem.method {
			mem.typ = text
		} else {
			mem.typ = strings.TrimSpace(text[len(m[0]):])
		}
		out = append(out, mem)
	}
	return out, nil
}

// api resolves the type of a handler's api argument.
func (d *declarations) api(typ string) (apiShape, error) {
	a := apiShape{objects: map[string][]string{}}
	members, err := d.allMembers(typ)
	if err != nil {
		return a, err
	}
	for _, m := range members {
		if m.optional {
			return a, fmt.Errorf("%s is optional: the catalog's api members are always there", m.name)
		}
		if m.method {
			a.functions = append(a.functions, m.name)
			continue
		}
		methods, err := d.methods(m.typ)
		if err != nil {
			return a, fmt.Errorf("%s: %v", m.name, err)
		}
		a.objects[m.name] = methods
	}
	a.functions = sorted(a.functions)
	return a, nil
}

// methods lists the methods of an object type: inline or a named interface.
func (d *declarations) methods(typ string) ([]string, error) {
	var members []member
	if strings.HasPrefix(typ, "{") {
		end := matching(typ, 0)
		if end != len(typ)-1 {
			return nil, fmt.Errorf("cannot read type %q", typ)
		}
		var err error
		if members, err = parseMembers(typ[1:end]); err != nil {
			return nil, err
		}
	} else {
		var err error
		if members, err = d.allMembers(typ); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, m := range members {
		if !m.method || m.optional {
			return nil, fmt.Errorf("%s is not a required method", m.name)
		}
		out = append(out, m.name)
	}
	return sorted(out), nil
}

// allMembers returns the members of a named interface and of the
// interfaces it extends.
func (d *declarations) allMembers(typ string) ([]member, error) {
	name := strings.TrimSpace(typ)
	if i := strings.IndexByte(name, '<'); i >= 0 {
		name = strings.TrimSpace(name[:i])
	}
	if !identRE.MatchString(name) {
		return nil, fmt.Errorf("%q is not an interface name", typ)
	}
	it, ok := d.interfaces[name]
	if !ok {
		return nil, fmt.Errorf("no interface %s", name)
	}
	var out []member
	for _, base := range it.extends {
		ms, err := d.allMembers(base)
		if err != nil {
			return nil, fmt.Errorf("%s extends %v", name, err)
		}
		out = append(out, ms...)
	}
	return append(out, it.members...), nil
}

// tagged reports whether an event type carries the literal id: in its own
// type arguments (TokenEvent<"before_token">) or in those of an interface
// it extends (UserinfoEvent extends BaseEvent<"before_userinfo">).
func (d *declarations) tagged(typ, id string) bool {
	if strings.Contains(typ, `"`+id+`"`) {
		return true
	}
	name := strings.TrimSpace(typ)
	if i := strings.IndexByte(name, '<'); i >= 0 {
		return false // a generic with another literal
	}
	it, ok := d.interfaces[name]
	if !ok {
		return false
	}
	for _, base := range it.extends {
		if d.tagged(base, id) {
			return true
		}
	}
	return false
}

// genericArgs splits `Name<A, B<C>>` into [A, B<C>].
func genericArgs(typ, name string) ([]string, bool) {
	typ = strings.TrimSpace(typ)
	rest, ok := strings.CutPrefix(typ, name)
	if !ok || !strings.HasPrefix(strings.TrimSpace(rest), "<") {
		return nil, false
	}
	rest = strings.TrimSpace(rest)
	if matching(rest, 0) != len(rest)-1 {
		return nil, false
	}
	return splitTop(rest[1:len(rest)-1], ','), true
}

// splitTop splits s at sep outside brackets, trimming the parts and
// dropping a trailing empty one.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(' || c == '{' || c == '[' || c == '<':
			depth++
		case c == ')' || c == '}' || c == ']' || (c == '>' && (i == 0 || s[i-1] != '=')):
			depth--
		case c == sep && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

// matching returns the index of the bracket closing the one at s[open],
// or -1.
func matching(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(' || c == '{' || c == '[' || c == '<':
			depth++
		case c == ')' || c == '}' || c == ']' || (c == '>' && (i == 0 || s[i-1] != '=')):
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// stripComments blanks out comments, leaving string literals alone.
func stripComments(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"' || b[i] == '\'' || b[i] == '`':
			q := b[i]
			for i++; i < len(b) && b[i] != q; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '/' && i+1 < len(b) && b[i+1] == '*':
			j := bytes.Index(b[i+2:], []byte("*/"))
			end := len(b)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			for k := i; k < end; k++ {
				if b[k] != '\n' {
					b[k] = ' '
				}
			}
			i = end - 1
		}
	}
	return string(b)
}
