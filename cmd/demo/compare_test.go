package main

import (
	"reflect"
	"testing"
)

// TestCompareClaims marks each claim against the IdP's original by value,
// whatever its name.
func TestCompareClaims(t *testing.T) {
	orig := map[string]any{"sub": "alice", "name": "Alice", "locale": "en", "roles": []any{"a"}, "at_hash": "x"}
	got := map[string]any{"sub": "alice", "name": "Alice (Eng)", "roles": []any{"a"}, "at_hash": "y", "given_name": "Alice"}
	want := []claimRow{
		{Name: "at_hash", Value: `"y"`, Old: `"x"`, Mark: markChanged, Why: "recomputed by idphooks for the re-signed access token"},
		// A standard claim's name does not make it the IdP's.
		{Name: "given_name", Value: `"Alice"`, Mark: markAdded},
		{Name: "locale", Value: `"en"`, Mark: markRemoved},
		{Name: "name", Value: `"Alice (Eng)"`, Old: `"Alice"`, Mark: markChanged},
		{Name: "roles", Value: `["a"]`, Mark: markUnchanged},
		{Name: "sub", Value: `"alice"`, Mark: markUnchanged},
	}
	if rows := compareClaims(got, orig); !reflect.DeepEqual(rows, want) {
		t.Errorf("compareClaims:\n got %+v\nwant %+v", rows, want)
	}

	// Without the original, nothing is marked.
	for _, r := range compareClaims(got, nil) {
		if r.Mark != "" || r.Old != "" {
			t.Errorf("no original: %+v marked", r)
		}
	}
}
