package sandbox

import (
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

const redacted = "[REDACTED]"

// newRedactor replaces every secret value with a marker, in the forms it
// takes in text: as it is, JSON- or Go-quoted (a PEM key's newlines become
// \n when a hook logs an object or throws one), and URL-escaped. Longer
// values come first so a secret containing another is hidden whole.
func newRedactor(secrets map[string]string) *strings.Replacer {
	seen := map[string]bool{}
	values := make([]string, 0, 4*len(secrets))
	add := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			values = append(values, v)
		}
	}
	for _, v := range secrets {
		if v == "" {
			continue
		}
		add(v)
		if b, err := json.Marshal(v); err == nil {
			add(string(b[1 : len(b)-1]))
		}
		q := strconv.Quote(v)
		add(q[1 : len(q)-1])
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
	}
	if len(values) == 0 {
		return nil
	}
	sort.Slice(values, func(i, j int) bool { return len(values[i]) > len(values[j]) })
	pairs := make([]string, 0, 2*len(values))
	for _, v := range values {
		pairs = append(pairs, v, redacted)
	}
	return strings.NewReplacer(pairs...)
}

// truncate cuts s to n bytes (on a rune boundary), marking the cut.
// Redact first, then truncate: cut first, a secret split at the edge
// would no longer match and its start would leak.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Redact replaces the hook's secret values in s, in the forms the hook's
// own errors and log lines are redacted in. Callers use it on what the
// hook handed back (a deny reason, a claim name) before showing or
// keeping it.
func (h *Hook) Redact(s string) string { return h.redact(s) }

func (h *Hook) redact(s string) string {
	if h.redactor == nil {
		return s
	}
	return h.redactor.Replace(s)
}

// redact hides the hook's secrets and the invocation's Redact values.
func (c *call) redact(s string) string {
	s = c.hook.redact(s)
	if c.redactor != nil {
		s = c.redactor.Replace(s)
	}
	return s
}

func (c *call) redactErr(err error) error {
	if c.hook.redactor == nil && c.redactor == nil {
		return err
	}
	return errors.New(c.redact(err.Error()))
}
