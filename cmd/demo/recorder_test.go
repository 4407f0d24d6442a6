package main

import "testing"

// TestLastN keeps the newest keys only, and forgets what was taken.
func TestLastN(t *testing.T) {
	l := newLastN[int](2)
	l.put("a", 1)
	l.put("b", 2)
	l.put("c", 3)
	if _, ok := l.take("a"); ok {
		t.Error("a kept beyond the bound")
	}
	if v, ok := l.take("b"); !ok || v != 2 {
		t.Errorf("b = %d, %v", v, ok)
	}
	if _, ok := l.take("b"); ok {
		t.Error("b taken twice")
	}
	l.put("d", 4)
	l.put("e", 5)
	if _, ok := l.take("c"); ok {
		t.Error("c kept beyond the bound")
	}
	if len(l.vals) != 2 || len(l.order) != 2 {
		t.Errorf("holds %d values, %d keys; want 2", len(l.vals), len(l.order))
	}
}
