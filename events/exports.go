package events

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/idphooks/idphooks/sandbox"
)

// CheckExports refuses what a hook exports when it would leave a handler
// silently off: a name shaped like a handler (on<Something>, or close to a
// handler's name) that matches no event, a handler that is not a function,
// or no handler at all. Other exports (helpers, constants) are the
// author's business.
func CheckExports(exports []sandbox.Export) error {
	var problems []string
	handlers := 0
	for _, e := range exports {
		if id, ok := eventOfHandler(e.Name); ok {
			if !e.Function {
				problems = append(problems, fmt.Sprintf("%s is exported but is not a function (the %s handler must be one)", e.Name, id))
				continue
			}
			handlers++
			continue
		}
		if !handlerShaped(e.Name) {
			continue
		}
		msg := fmt.Sprintf("%s matches no event", e.Name)
		if s := suggest(e.Name); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		problems = append(problems, msg)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	if handlers == 0 {
		names := make([]string, 0, len(exports))
		for _, e := range exports {
			names = append(names, e.Name)
		}
		if len(names) == 0 {
			return errors.New("exports no handler: export an on<Event> function, e.g. exports.onBeforeToken = async (event, api) => { … }")
		}
		return fmt.Errorf("exports no handler (it exports %s): export an on<Event> function, e.g. exports.onBeforeToken", strings.Join(names, ", "))
	}
	return nil
}

// eventOfHandler maps a handler name back to its event id.
func eventOfHandler(name string) (string, bool) {
	for id, h := range handlerNames {
		if h == name {
			return id, true
		}
	}
	return "", false
}

// handlerShaped reports whether an export looks meant as a handler:
// on<Upper>…, any spelling of a handler in another case, or a name a few
// typing mistakes away from one.
func handlerShaped(name string) bool {
	if len(name) > 2 && strings.HasPrefix(strings.ToLower(name), "on") && unicode.IsUpper(rune(name[2])) {
		return true
	}
	return suggest(name) != ""
}

// suggest returns the handler closest to name, if it is close enough to be
// what the author meant.
func suggest(name string) string {
	best, bestD := "", 0
	ids := IDs()
	sort.Strings(ids)
	for _, id := range ids {
		h := handlerNames[id]
		d := distance(strings.ToLower(name), strings.ToLower(h))
		if best == "" || d < bestD {
			best, bestD = h, d
		}
	}
	// A third of the name, at most 4: onBeforToken (1), onbeforetoken (0
	// case-folded), beforeToken (2) are found; onError is not.
	limit := min(4, len(best)/3)
	if bestD <= limit {
		return best
	}
	return ""
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
