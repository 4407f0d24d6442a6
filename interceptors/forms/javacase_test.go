package forms

import "testing"

// The values Java's String.toLowerCase gives (each checked on OpenJDK
// 17.0.15), and the Σ whose fate needs Java's word boundaries refused:
// Java makes "ΟΔΥΣΣΕΑΣ@example.com" end its name in ς and "ΑΣ1" too, but
// "ΑΣ.ΒΓ" and "ΑΣ-Β" keep σ, a rule idphooks does not model.
func TestJavaLower(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"Bob", "bob", true},
		{"ΟΔΥΣΣΕΑΣ", "οδυσσεας", true},
		{"Σοφία", "σοφία", true},
		{"İvan", "i\u0307van", true},
		{"ΑΣ", "ας", true},
		{"Σ", "σ", true},
		{"ΟΔΥΣΣΕΑΣ@example.com", "οδυσσεασ@example.com", false},
		{"ΑΣ.ΒΓ", "ασ.βγ", false},
		{"1Σ", "1σ", false},
		// Java 17 leaves U+2C2F as it is, Go lower-cases it; Java 25
		// lower-cases U+1C89, Go does not.
		{"Ⱟx", "ⱟx", false},
		{"Ᲊx", "Ᲊx", false},
		// Java's word iterator splits a letter beyond the BMP from Σ.
		{"Α𐐀Σ", "α𐐨σ", false},
	} {
		got, ok := javaLower(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("javaLower(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
