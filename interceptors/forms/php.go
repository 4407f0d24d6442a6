package forms

import (
	"fmt"
	"net/url"
	"strings"
)

// phpMaxInputVars is PHP's default max_input_vars: PHP drops the fields
// past it without a word, so a post with more is refused (a hook would
// judge a field PHP never reads).
const phpMaxInputVars = 1000

// phpFields folds each field name the way PHP registers it in $_POST and
// $_GET, and refuses the names it would read otherwise than as one
// string: arrays (a "[") and names with control characters (PHP stops a
// name at NUL). Two names folding alike are a repeat.
func phpFields(v url.Values) (url.Values, error) {
	n := 0
	for _, vs := range v {
		n += len(vs)
	}
	if n > phpMaxInputVars {
		return nil, fmt.Errorf("%d fields: PHP reads the first %d only", n, phpMaxInputVars)
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		name, err := phpName(k)
		if err != nil {
			return nil, err
		}
		if _, ok := out[name]; ok {
			return nil, fmt.Errorf("fields %q and another are both %q to PHP", url.QueryEscape(k), name)
		}
		out[name] = vs
	}
	return out, nil
}

// phpName is the name PHP gives a field (main/php_variables.c): leading
// spaces dropped, "." and " " as "_".
func phpName(k string) (string, error) {
	for _, c := range []byte(k) {
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("field name %q holds a control character", url.QueryEscape(k))
		}
	}
	if strings.ContainsAny(k, "[]") {
		return "", fmt.Errorf("field name %q is a PHP array", url.QueryEscape(k))
	}
	name := strings.TrimLeft(k, " ")
	if name == "" {
		return "", fmt.Errorf("empty field name")
	}
	return strings.NewReplacer(".", "_", " ", "_").Replace(name), nil
}
