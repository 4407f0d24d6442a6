package main

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// How a claim the application got compares with the IdP's original.
const (
	markUnchanged = "unchanged"
	markAdded     = "added"
	markChanged   = "changed"
	markRemoved   = "removed"
)

// claimRow is one claim of a section of the page.
type claimRow struct {
	Name string
	// Value is the claim as the application got it, as JSON; for a removed
	// claim the IdP's value, which the application did not get.
	Value string
	Old   string // the IdP's value, as JSON, when changed
	Mark  string // one of the marks; "" when the IdP's original is unknown
	Why   string // who changed it when it was not the hook
}

// idphooksRecomputes are protected claims, which no hook may set, that
// idphooks itself recomputes when it re-signs.
var idphooksRecomputes = map[string]string{
	"at_hash": "recomputed by idphooks for the re-signed access token",
}

// compareClaims lists the claims of got and of orig, the IdP's original,
// by name, each marked. With orig nil, nothing is marked.
func compareClaims(got, orig map[string]any) []claimRow {
	all := maps.Clone(got)
	if all == nil {
		all = map[string]any{}
	}
	maps.Copy(all, orig)
	names := slices.Sorted(maps.Keys(all))
	rows := make([]claimRow, 0, len(names))
	for _, k := range names {
		g, inGot := got[k]
		o, inOrig := orig[k]
		row := claimRow{Name: k, Value: jsonText(g)}
		switch {
		case orig == nil:
		case !inOrig:
			row.Mark = markAdded
		case !inGot:
			row.Mark, row.Value = markRemoved, jsonText(o)
		case jsonText(o) != row.Value:
			// Both sides were decoded from JSON the same way, and maps
			// marshal with sorted keys, so equal JSON means an equal claim.
			row.Mark, row.Old, row.Why = markChanged, jsonText(o), idphooksRecomputes[k]
		default:
			row.Mark = markUnchanged
		}
		rows = append(rows, row)
	}
	return rows
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jwtClaims decodes the payload of a compact JWT without verifying it: for
// the IdP's originals, which the demo recorded inside its own process.
func jwtClaims(jwt string) (map[string]any, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(b, &claims) != nil || claims == nil {
		return nil, false
	}
	return claims, true
}

// isJWT tells a compact JWS from an opaque token.
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }
