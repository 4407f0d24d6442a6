package forms

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

// javaCorpus is every BMP character alone, after a letter before a Σ
// (whose lower case depends on what follows), and after a Σ.
func javaCorpus() []string {
	var in []string
	for c := rune(0); c <= unicode.MaxRune; c++ {
		if c == '\n' || c == '\r' || (c >= 0xD800 && c <= 0xDFFF) {
			continue
		}
		s := string(c)
		in = append(in, s, "Α"+s+"Σ", "ΑΣ"+s)
	}
	return in
}

// javaLower against the JVM Keycloak runs on: every value it accepts
// (ok) is lower-cased as Java's String.toLowerCase does, on the whole
// corpus. Skipped where no java is installed.
func TestJavaLowerAgainstJava(t *testing.T) {
	in := javaCorpus()
	javas, _ := filepath.Glob("/usr/lib/jvm/*/bin/java")
	if java, err := exec.LookPath("java"); err == nil {
		javas = append(javas, java)
	}
	seen := map[string]bool{}
	for _, java := range javas {
		if real, err := filepath.EvalSymlinks(java); err == nil && !seen[real] {
			seen[real] = true
			t.Run(filepath.Base(filepath.Dir(filepath.Dir(real))), func(t *testing.T) { compareWithJava(t, real, in) })
		}
	}
	if len(seen) == 0 {
		t.Skip("no java on this machine")
	}
}

func compareWithJava(t *testing.T, java string, in []string) {
	cmd := exec.Command(java, "-Duser.language=en", "-Duser.country=US", "testdata/JavaLower.java")
	cmd.Stdin = strings.NewReader(strings.Join(in, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java: %v\n%s", err, stderr.String())
	}
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(want) != len(in) {
		t.Fatalf("java answered %d lines for %d", len(want), len(in))
	}
	var bad []string
	refused := 0
	for k, s := range in {
		got, ok := javaLower(s)
		if !ok {
			refused++
			continue
		}
		if got != want[k] {
			bad = append(bad, fmt.Sprintf("%q (%U): java %q, javaLower %q", s, []rune(s), want[k], got))
		}
	}
	t.Logf("%d values, %d refused", len(in), refused)
	if len(bad) > 0 {
		t.Errorf("%d differ from Java, the first:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}
