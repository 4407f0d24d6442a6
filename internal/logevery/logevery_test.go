package logevery

import (
	"fmt"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	var l Limiter
	now := time.Unix(1000, 0)
	if !l.Due("a", now) || l.Due("a", now.Add(59*time.Second)) || !l.Due("b", now) {
		t.Fatal("once a minute per key")
	}
	if !l.Due("a", now.Add(Every)) {
		t.Fatal("a minute later, again")
	}
	// Many keys: bounded, and a key is never hidden for good.
	for i := range 1000 {
		l.Due(fmt.Sprint(i), now)
	}
	if len(l.last) > maxKeys {
		t.Fatalf("%d keys remembered", len(l.last))
	}
}
