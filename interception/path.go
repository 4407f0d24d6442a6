package interception

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NormalizePath folds the spellings of a path that IdP web frameworks
// treat alike, so that none of them slips a request past the hooks:
//   - "/token/", "//token", "/a/../token": Clean;
//   - "/token;jsessionid=1": JAX-RS matrix parameters, as Keycloak accepts;
//   - "\token": Windows-hosted frameworks read a backslash as a slash;
//   - "/token.", "/token ": and they drop a segment's trailing dots and
//     spaces (IIS does);
//   - "/TOKEN", "/Token": routers that match without regard to case (npm
//     oidc-provider's, ASP.NET's), with Unicode's simple case folding so
//     that "ſ" (long s) or "K" (Kelvin sign) fold like Java's
//     equalsIgnoreCase folds them.
//
// Classification looks up folded paths in an index of folded endpoint
// paths. Folding more than one IdP would is safe: a path that only looks
// like an endpoint gets inspected, never skipped.
func NormalizePath(p string) string {
	if strings.IndexByte(p, '\\') >= 0 {
		p = strings.ReplaceAll(p, `\`, "/")
	}
	if segmentEdits(p) {
		segs := strings.Split(p, "/")
		for k, s := range segs {
			if j := strings.IndexByte(s, ';'); j >= 0 {
				s = s[:j]
			}
			if s != "." && s != ".." {
				s = strings.TrimRight(s, ". ")
			}
			segs[k] = s
		}
		p = strings.Join(segs, "/")
	}
	p = foldCase(p)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	// Clean allocates only when it changes something: the usual clean
	// path passes for free.
	return path.Clean(p)
}

// segmentEdits reports a path with a segment to edit: matrix parameters,
// or a segment ending in a dot or a space. The usual path has none and is
// not split.
func segmentEdits(p string) bool {
	return strings.IndexByte(p, ';') >= 0 || strings.Contains(p, "./") || strings.Contains(p, " /") ||
		strings.HasSuffix(p, ".") || strings.HasSuffix(p, " ")
}

// foldCase lower-cases p, allocating only when something changes.
func foldCase(p string) string {
	for k := 0; k < len(p); k++ {
		c := p[k]
		if c >= utf8.RuneSelf {
			return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, p)
		}
		if 'A' <= c && c <= 'Z' {
			return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, p)
		}
	}
	return p
}
