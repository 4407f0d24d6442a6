package forms

import (
	"fmt"
	"strings"
	"testing"
)

// A key given two names names nobody, also when the first comes back;
// one given the same name twice keeps it; doubt makes it name nobody.
func TestFlowsTwoNamesNameNobody(t *testing.T) {
	var f flows
	f.remember("s1", "mallory")
	f.remember("s1", "mallory")
	if got := f.who("s1"); got != "mallory" {
		t.Fatalf("who = %q", got)
	}
	f.remember("s1", "victim")
	f.remember("s1", "mallory")
	if got := f.who("s1"); got != "" || !f.has("s1") {
		t.Fatalf("two names: who = %q", got)
	}
	f.remember("s2", "jane")
	f.doubt("s2")
	if got := f.who("s2"); got != "" {
		t.Fatalf("doubted: who = %q", got)
	}
	f.doubt("s3")
	f.remember("s3", "victim")
	if got := f.who("s3"); got != "" {
		t.Fatalf("doubted first: who = %q", got)
	}
}

// Keys that are asked about but never given a name take no room; given
// ones are bounded by two generations.
func TestFlowsBounded(t *testing.T) {
	var f flows
	for i := range 3 * flowKeep {
		f.who(fmt.Sprint("fake ", i))
	}
	if len(f.cur)+len(f.old) != 0 {
		t.Fatalf("lookups stored %d entries", len(f.cur)+len(f.old))
	}
	for i := range 3 * flowKeep {
		f.remember(fmt.Sprint("s ", i), "u")
	}
	if n := len(f.cur) + len(f.old); n > 2*flowKeep {
		t.Fatalf("%d entries", n)
	}
	f.remember("long", strings.Repeat("x", flowName+1))
	if u := f.cur[flowID("long")]; u.identifier != "" || !u.unsure {
		t.Fatalf("a name over %d bytes kept: %d bytes", flowName, len(u.identifier))
	}
	if f.who("s 0") != "" || f.who(fmt.Sprint("s ", 3*flowKeep-1)) != "u" {
		t.Fatal("the oldest are not the ones forgotten")
	}
}
