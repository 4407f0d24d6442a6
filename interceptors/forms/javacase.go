package forms

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// javaLower is s lower-cased as Java's String.toLowerCase does (Keycloak
// lower-cases usernames and e-mail addresses so before it looks them up),
// where that differs from Go's strings.ToLower:
//   - İ (U+0130) is "i̇" (i and a combining dot above) in Java, "i" in Go;
//   - Σ (U+03A3) is ς (final sigma) in Java at the end of a word, σ in Go.
//
// Java finds a word's end with a word BreakIterator. Where a Σ is next
// to anything but letters or the string's ends, idphooks cannot tell
// what Java decides without that iterator, and ok is false: the post is
// refused rather than a hook judging "…σ" while Keycloak logs in "…ς".
func javaLower(s string) (string, bool) {
	if !strings.ContainsRune(s, 'İ') && !strings.ContainsRune(s, 'Σ') {
		return strings.ToLower(s), true
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	ok := true
	var prev rune = -1
	for i, c := range s {
		switch c {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			next := rune(-1)
			if n := i + utf8.RuneLen(c); n < len(s) {
				next, _ = utf8.DecodeRuneInString(s[n:])
			}
			switch {
			case prev == -1 || (cased(prev) && cased(next)):
				// The word's first letter, or inside a word: σ.
				b.WriteRune('σ')
			case cased(prev) && next == -1:
				// After a letter, at the string's end: the word ends.
				b.WriteRune('ς')
			default:
				ok = false
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(c))
		}
		prev = c
	}
	return b.String(), ok
}

// cased is Java's Character "cased" test for a letter beside a Σ.
func cased(c rune) bool {
	return c >= 0 && (unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c))
}
