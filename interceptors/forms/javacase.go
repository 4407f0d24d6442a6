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
//
// ok is false too for a value holding a letter whose case Go's Unicode
// tables and the JVM's disagree on (unsettledCase).
func javaLower(s string) (string, bool) {
	if strings.IndexFunc(s, unsettled) >= 0 {
		return strings.ToLower(s), false
	}
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

// cased is Java's Character "cased" test for a letter beside a Σ, for
// the letters of the Basic Multilingual Plane: Java's word iterator puts
// a word boundary between a letter beyond it (Deseret, Adlam, the
// mathematical letters) and a Σ, so that "Α𐐀Σ" keeps σ; such a
// neighbour, like any that is no letter, leaves the Σ undecided.
func cased(c rune) bool {
	return c >= 0 && c <= 0xFFFF && (unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c))
}

// unsettledCase are the cased letters of Unicode 14 and 16 (Vithkuqi,
// Latin Extended-G, Garay, new Glagolitic, Latin and Cyrillic letters):
// Java 17 (Unicode 13) leaves the first unchanged and counts them as no
// letters beside a Σ, while Go lower-cases them; Java 25 (Unicode 16)
// lower-cases the second, which Go does not know. Keycloak 26 runs on
// 17, 21 or 25, so a value holding one is refused: the hook would judge
// another spelling than the one Keycloak looks up and stores. Found by
// TestJavaLowerAgainstJava, which compares javaLower with every JDK on
// the machine, character by character; a JDK of a newer Unicode may add
// some.
var unsettledCase = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x1C89, 0x1C8A, 1}, {0x2C2F, 0x2C2F, 1}, {0x2C5F, 0x2C5F, 1}, {0xA7C0, 0xA7C1, 1},
		{0xA7CB, 0xA7CD, 1}, {0xA7D0, 0xA7D1, 1}, {0xA7D3, 0xA7D3, 1}, {0xA7D5, 0xA7DC, 1},
	},
	R32: []unicode.Range32{
		{0x10570, 0x1057A, 1}, {0x1057C, 0x1058A, 1}, {0x1058C, 0x10592, 1}, {0x10594, 0x10595, 1},
		{0x10597, 0x105A1, 1}, {0x105A3, 0x105B1, 1}, {0x105B3, 0x105B9, 1}, {0x105BB, 0x105BC, 1},
		{0x10D50, 0x10D65, 1}, {0x10D70, 0x10D85, 1}, {0x1DF00, 0x1DF09, 1}, {0x1DF0B, 0x1DF1E, 1},
		{0x1DF25, 0x1DF2A, 1},
	},
}

func unsettled(c rune) bool { return c >= 0x1C89 && unicode.Is(unsettledCase, c) }
