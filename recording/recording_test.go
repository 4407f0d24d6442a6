package recording

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idphooks/idphooks/events"
	"github.com/idphooks/idphooks/sandbox"
)

func TestRecordAndReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec", "events.jsonl")
	r, err := Open(Config{Path: path, UnlockClaims: []string{"acr"},
		Hooks: []Hook{{Hook: "claims.js", Mode: "sync", Applications: []string{"web"}, Timeout: "300ms"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.New(events.BeforeToken, "web", events.Request{ID: "req-1"})
	ev.User = map[string]any{"sub": "alice"}
	ev.Data = map[string]any{"grant_type": "authorization_code"}
	tr := &events.Trace{EventID: ev.ID, Event: ev.Type, Outcome: "continued",
		Hooks: []events.HookTrace{{Hook: "claims.js", Mode: events.Sync, Status: events.StatusRan}}}
	if !r.Sample(events.BeforeToken) {
		t.Fatal("sample 1 must record everything")
	}
	r.Record(ev.Map(), tr)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %v mode %v: it holds real users' events", err, fi.Mode())
	}
	f, _ := os.Open(path)
	defer f.Close()
	var got []*Record
	if err := Read(f, func(_ int, rec *Record) error { got = append(got, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d records", len(got))
	}
	rec := got[0]
	h, ok := rec.HookByName("claims.js")
	if !ok || h.Timeout != "300ms" || h.Applications[0] != "web" || rec.UnlockClaims[0] != "acr" ||
		rec.Event["application"] != "web" || rec.Event["id"] != ev.ID {
		t.Fatalf("record %+v", rec)
	}
}

func TestOpsKeepTheirValues(t *testing.T) {
	op := OpOf(sandbox.Op{Object: "idToken", Method: "setClaim", Args: []any{"tier", "gold"}})
	if back := op.SandboxOp(); back.Args[1] != "gold" || back.Object != "idToken" {
		t.Fatalf("%+v", back)
	}
}

func TestEventsFilterAndSampleBounds(t *testing.T) {
	dir := t.TempDir()
	r, err := Open(Config{Path: filepath.Join(dir, "e.jsonl"), Events: []string{events.BeforeUserinfo}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Sample(events.BeforeToken) || !r.Sample(events.BeforeUserinfo) {
		t.Fatal("events filter ignored")
	}
	if _, err := Open(Config{Path: filepath.Join(dir, "x.jsonl"), Sample: 2}, nil); err == nil {
		t.Fatal("sample 2 accepted")
	}
	if _, err := Open(Config{Path: filepath.Join(dir, "y.jsonl"), Events: []string{"before_tokn"}}, nil); err == nil {
		t.Fatal("unknown event accepted")
	}
}

func TestReadRefusesWhatIsNotARecord(t *testing.T) {
	for in, want := range map[string]string{
		"{\"v\":1,\"event\":{}}\nnot json\n": "line 2: not a recorded event",
		"{\"v\":9,\"event\":{}}\n":           "record version 9",
		"{\"v\":1}\n":                        "line 1: record without an event",
	} {
		err := Read(bytes.NewBufferString(in), func(int, *Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// A folder that cannot be written fails at Open (at provision), not on
// the first event.
func TestOpenFailsEarly(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if _, err := Open(Config{Path: filepath.Join(dir, "e.jsonl")}, nil); err == nil {
		t.Fatal("unwritable folder accepted")
	}
}
