package sandbox

import (
	"errors"
	"sort"
	"strings"
)

const redacted = "[REDACTED]"

// newRedactor replaces every secret value with a marker. Longer values come
// first so a secret containing another is hidden whole.
func newRedactor(secrets map[string]string) *strings.Replacer {
	values := make([]string, 0, len(secrets))
	for _, v := range secrets {
		if v != "" {
			values = append(values, v)
		}
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

func (h *Hook) redact(s string) string {
	if h.redactor == nil {
		return s
	}
	return h.redactor.Replace(s)
}

func (h *Hook) redactErr(err error) error {
	if h.redactor == nil {
		return err
	}
	return errors.New(h.redact(err.Error()))
}
